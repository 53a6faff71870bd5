package h1server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/internal/weirtest"
)

// TestFlushStreams checks every Flush puts the bytes on the wire at once:
// the client reads chunk i before the handler writes chunk i+1, through
// http.Flusher and through http.ResponseController.
func TestFlushStreams(t *testing.T) {
	const chunks = 5
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			next := make(chan struct{})
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				rc := http.NewResponseController(w)
				for i := range chunks {
					fmt.Fprintf(w, "data: %d\n\n", i)
					var err error
					if r.URL.Path == "/controller" {
						err = rc.Flush()
					} else {
						w.(http.Flusher).Flush()
					}
					if err != nil {
						return
					}
					select {
					case <-next:
					case <-r.Context().Done():
						return
					}
				}
			})})
			for _, path := range []string{"/flusher", "/controller"} {
				t.Run(path, func(t *testing.T) {
					c := dial(t, s.addr)
					_, _ = io.WriteString(c, req("GET "+path+" HTTP/1.1", "Host: a"))
					br := bufio.NewReader(c)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
						t.Errorf("transfer encoding %q, want chunked", resp.TransferEncoding)
					}
					body := bufio.NewReader(resp.Body)
					for i := range chunks {
						// Blocks (until the 10s conn deadline) if the server
						// holds the chunk back.
						line, err := body.ReadString('\n')
						if want := fmt.Sprintf("data: %d\n", i); err != nil || line != want {
							t.Fatalf("chunk %d: %q %v, want %q", i, line, err, want)
						}
						_, _ = body.ReadString('\n')
						next <- struct{}{}
					}
					if rest, err := io.ReadAll(body); err != nil || len(rest) > 0 {
						t.Errorf("after the last chunk: %q %v", rest, err)
					}
				})
			}
		})
	}
}

// TestPanics checks a handler that panics after flushing leaves the
// client with the flushed bytes and a body cut short (no terminating
// chunk), that only panics other than http.ErrAbortHandler are logged, and
// that the server goes on serving.
func TestPanics(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/ok":
					_, _ = io.WriteString(w, "ok")
					return
				case "/before-write":
					panic("boom before any byte")
				case "/buffered":
					_, _ = io.WriteString(w, "never flushed")
					panic("boom after a buffered write")
				}
				_, _ = io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				if r.URL.Path == "/abort" {
					panic(http.ErrAbortHandler)
				}
				panic("boom after flush")
			})})
			for _, tc := range []struct {
				path   string
				status int    // 0: no response at all
				body   string // what the client gets before the cut
				logged string // "" for nothing logged
			}{
				{"/abort", 200, "partial", ""},
				{"/flush-then-panic", 200, "partial", "boom after flush"},
				{"/before-write", 0, "", "boom before any byte"},
				{"/buffered", 0, "", "boom after a buffered write"},
			} {
				t.Run(tc.path, func(t *testing.T) {
					before := s.logs.String()
					c := dial(t, s.addr)
					_, _ = io.WriteString(c, req("GET "+tc.path+" HTTP/1.1", "Host: a"))
					br := bufio.NewReader(c)
					resp, err := http.ReadResponse(br, nil)
					if tc.status == 0 {
						if err == nil {
							t.Fatalf("got a %d response, want the connection closed without one", resp.StatusCode)
						}
					} else {
						if err != nil {
							t.Fatal(err)
						}
						b, err := io.ReadAll(resp.Body)
						if resp.StatusCode != tc.status || string(b) != tc.body || !errors.Is(err, io.ErrUnexpectedEOF) {
							t.Errorf("got %d %q %v, want %d %q cut short (io.ErrUnexpectedEOF)", resp.StatusCode, b, err, tc.status, tc.body)
						}
					}
					expectClosed(t, c, "after a panic")
					// The server logs before it closes the connection
					// (net/http) or soon after: poll, bounded.
					logged := pollLog(s.logs, before, tc.logged)
					if tc.logged != "" && !strings.Contains(logged, tc.logged) {
						t.Errorf("log does not mention %q:\n%s", tc.logged, logged)
					}
					if tc.logged == "" && strings.Contains(logged, "panic") {
						t.Errorf("http.ErrAbortHandler was logged:\n%s", logged)
					}
					c2 := dial(t, s.addr)
					_, _ = io.WriteString(c2, req("GET /ok HTTP/1.1", "Host: a"))
					resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
					if err != nil || resp.StatusCode != 200 {
						t.Fatalf("after the panic: %v %v", resp, err)
					}
				})
			}
		})
	}
}

// pollLog returns what was logged after before, waiting (bounded) for want
// to show up when want is set.
func pollLog(logs *weirtest.SyncBuffer, before, want string) string {
	deadline := time.Now().Add(bound)
	for {
		got := strings.TrimPrefix(logs.String(), before)
		if want == "" || strings.Contains(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}
