package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFullDuplex checks a handler can read the request body while it
// streams its answer: each line the client sends comes back before the
// client sends the next.
func TestFullDuplex(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.EnableFullDuplex(); err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				br := bufio.NewReader(r.Body)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = io.WriteString(w, "echo "+line)
					if err := rc.Flush(); err != nil {
						return
					}
				}
			})})
			markKnown(t)
			c := dial(t, s.addr)
			_ = c.SetDeadline(time.Now().Add(2 * time.Second)) // a deadlock fails sooner
			_, _ = io.WriteString(c, req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"))
			br := bufio.NewReader(c)
			var body *bufio.Reader
			for i := range 3 {
				line := fmt.Sprintf("line %d\n", i)
				_, _ = fmt.Fprintf(c, "%x\r\n%s\r\n", len(line), line)
				if body == nil {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						fatalf(t, "reading the response to the first line: %v", err)
					}
					body = bufio.NewReader(resp.Body)
				}
				got, err := body.ReadString('\n')
				if err != nil || got != "echo "+line {
					fatalf(t, "round %d: %q %v", i, got, err)
				}
			}
			_, _ = io.WriteString(c, "0\r\n\r\n")
			if rest, err := io.ReadAll(body); err != nil || len(rest) > 0 {
				t.Errorf("end: %q %v", rest, err)
			}
		})
	}
}

// TestResponseControllerDeadlines checks the deadlines a handler sets
// through http.ResponseController reach the connection.
func TestResponseControllerDeadlines(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			results := make(chan error, 1)
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				switch r.URL.Path {
				case "/read":
					// The body never comes; the deadline ends the wait.
					if err := rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
						results <- err
						return
					}
					_, err := io.ReadAll(r.Body)
					results <- err
				case "/write":
					_, _ = io.WriteString(w, "first")
					_ = rc.Flush()
					if err := rc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
						results <- err
						return
					}
					_, _ = w.Write(bytes.Repeat([]byte("x"), 64<<10))
					results <- rc.Flush()
				}
			})})
			for _, tc := range []struct{ path, body string }{
				{"/read", ""}, // the 10 bytes never come
				{"/write", "0123456789"},
			} {
				t.Run(tc.path, func(t *testing.T) {
					c := dial(t, s.addr)
					_, _ = io.WriteString(c, req("POST "+tc.path+" HTTP/1.1", "Host: a", "Content-Length: 10")+tc.body)
					var ne net.Error
					if err := waitFor(t, results, "handler"); !errors.As(err, &ne) || !ne.Timeout() {
						t.Errorf("got %v, want a timeout", err)
					}
				})
			}
		})
	}
}

// TestConcurrentClients runs keep-alive clients at once with bodies of
// many sizes, streamed and not, so -race sees the server's pooled buffers
// shared between connections; every answer must be its own request's.
func TestConcurrentClients(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return
				}
				if r.URL.Query().Get("stream") == "1" {
					for len(b) > 0 {
						n := min(len(b), 1500)
						_, _ = w.Write(b[:n])
						w.(http.Flusher).Flush()
						b = b[n:]
					}
					return
				}
				_, _ = w.Write(b)
			})})
			c := client(t, &http.Transport{MaxIdleConnsPerHost: 4, MaxConnsPerHost: 8})
			var wg sync.WaitGroup
			errs := make(chan error, 16*12)
			for g := range 16 {
				wg.Go(func() {
					for i := range 12 {
						size := []int{0, 1, 100, 2047, 2049, 4096, 4097, 9000, 40000}[(g+i)%9]
						body := strings.Repeat(string(rune('a'+(g+i)%26)), size) + fmt.Sprintf("<%d.%d>", g, i)
						url := fmt.Sprintf("http://%s/?stream=%d", s.addr, i%2)
						resp, err := c.Post(url, "text/plain", strings.NewReader(body))
						if err != nil {
							errs <- err
							return
						}
						got, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil || string(got) != body {
							errs <- fmt.Errorf("client %d request %d (%d bytes): got %d bytes ending %q, %v", g, i, len(body), len(got), tail(got), err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func tail(b []byte) []byte {
	return b[max(0, len(b)-20):]
}
