package h1server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// bound is how long a test waits for something that should happen at once
// (a cancellation, a close); reaching it fails the test.
const bound = 5 * time.Second

// waitFor receives from ch within bound.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		t.Fatalf("%s: nothing within %v", what, bound)
		var zero T
		return zero
	}
}

// awaitCancel signals started, then reports on seen whether r's context
// ended within twice bound.
func awaitCancel(r *http.Request, started chan<- struct{}, seen chan<- error) {
	started <- struct{}{}
	select {
	case <-r.Context().Done():
		seen <- r.Context().Err()
	case <-time.After(2 * bound):
		seen <- errors.New("context not cancelled")
	}
}

// expectClosed reads from c until the server closes it; a timeout (the
// server kept it open) fails the test. Bytes the server sent are returned.
func expectClosed(t *testing.T, c net.Conn, what string) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(bound))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection is still open after %v (read %q)", what, bound, b)
	}
	return b
}

// TestContextCancelled checks r.Context() ends when the client goes away
// while the handler waits, on a full close and on a half-close, with and
// without a request body; and that it ends once the handler returned.
func TestContextCancelled(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			seen := make(chan error, 1)
			contexts := make(chan context.Context, 1)
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/return" {
					contexts <- r.Context()
					_, _ = io.WriteString(w, "done")
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				awaitCancel(r, started, seen)
			})})
			for _, tc := range []struct {
				name string
				req  string
				hang func(c *net.TCPConn) error
			}{
				{"close", req("GET /wait HTTP/1.1", "Host: a"), (*net.TCPConn).Close},
				{"half-close", req("GET /wait HTTP/1.1", "Host: a"), (*net.TCPConn).CloseWrite},
				{"close after body", req("POST /wait HTTP/1.1", "Host: a", "Content-Length: 5") + "hello", (*net.TCPConn).Close},
				{"half-close after chunked body", req("POST /wait HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", (*net.TCPConn).CloseWrite},
				{"close on second request", req("GET /return HTTP/1.1", "Host: a") + req("GET /wait HTTP/1.1", "Host: a"), (*net.TCPConn).Close},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := dial(t, s.addr)
					if _, err := io.WriteString(c, tc.req); err != nil {
						t.Fatal(err)
					}
					if strings.Contains(tc.req, "/return") {
						waitFor(t, contexts, "first request")
					}
					waitFor(t, started, "handler start")
					if err := tc.hang(c.(*net.TCPConn)); err != nil {
						t.Fatal(err)
					}
					if err := waitFor(t, seen, "handler"); !errors.Is(err, context.Canceled) {
						t.Errorf("handler saw %v, want context.Canceled", err)
					}
				})
			}
			t.Run("after return", func(t *testing.T) {
				c := dial(t, s.addr)
				_, _ = io.WriteString(c, req("GET /return HTTP/1.1", "Host: a"))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				ctx := waitFor(t, contexts, "handler")
				// The connection stays open: the context ends because the
				// request is over, not because the client left.
				waitFor(t, ctx.Done(), "context of a returned handler")
			})
		})
	}
}

// TestTimeouts checks a client that stalls inside its headers is cut off
// after ReadHeaderTimeout, an idle keep-alive connection after
// IdleTimeout, and that neither deadline cuts a request body or a handler
// that takes longer.
func TestTimeouts(t *testing.T) {
	const short = 200 * time.Millisecond
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if r.URL.Path == "/slow" {
					select { // outlive both timeouts
					case <-time.After(3 * short):
					case <-r.Context().Done():
						http.Error(w, "cancelled: "+r.Context().Err().Error(), 500)
						return
					}
				}
				fmt.Fprintf(w, "%s %v", body, err)
			})
			headerTimeout := start(t, im, options{handler: handler, readHeaderTimeout: short, idleTimeout: time.Minute})
			idleTimeout := start(t, im, options{handler: handler, readHeaderTimeout: time.Minute, idleTimeout: short})
			both := start(t, im, options{handler: handler, readHeaderTimeout: short, idleTimeout: short})
			defaults := start(t, im, options{handler: handler})

			t.Run("stalled headers", func(t *testing.T) {
				t.Parallel()
				c := dial(t, headerTimeout.addr)
				_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
				if b := expectClosed(t, c, "half a header block"); len(b) > 0 {
					t.Logf("server answered %q", b)
				}
			})
			t.Run("stalled headers of the second request", func(t *testing.T) {
				t.Parallel()
				c := dial(t, headerTimeout.addr)
				br := bufio.NewReader(c)
				_, _ = io.WriteString(c, req("GET / HTTP/1.1", "Host: a"))
				readOK(t, br, " <nil>")
				_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
				expectClosed(t, c, "half a second header block")
			})
			t.Run("idle keep-alive", func(t *testing.T) {
				t.Parallel()
				c := dial(t, idleTimeout.addr)
				_, _ = io.WriteString(c, req("GET / HTTP/1.1", "Host: a"))
				readOK(t, bufio.NewReader(c), " <nil>")
				if b := expectClosed(t, c, "idle connection"); len(b) > 0 {
					t.Errorf("idle connection got %q", b)
				}
			})
			t.Run("silent new connection", func(t *testing.T) {
				t.Parallel()
				c := dial(t, both.addr)
				expectClosed(t, c, "connection that never sends")
			})
			t.Run("slow headers within the timeout", func(t *testing.T) {
				t.Parallel()
				markKnown(t)
				// Headers spread over 1.5s, well inside the default 10s
				// ReadHeaderTimeout.
				c := dial(t, defaults.addr)
				_, _ = io.WriteString(c, "GET / HTTP/1.1\r\n")
				<-time.After(1500 * time.Millisecond)
				_, _ = io.WriteString(c, "Host: a\r\n\r\n")
				readOK(t, bufio.NewReader(c), " <nil>")
			})
			t.Run("request after a pause", func(t *testing.T) {
				t.Parallel()
				// Long enough for an idle connection to give its read
				// buffer back and wait on the socket.
				c := dial(t, defaults.addr)
				br := bufio.NewReader(c)
				for i := range 2 {
					if i > 0 {
						<-time.After(1500 * time.Millisecond)
					}
					_, _ = io.WriteString(c, req("POST / HTTP/1.1", "Host: a", "Content-Length: 2")+"hi")
					readOK(t, br, "hi <nil>")
				}
			})
			t.Run("slow body", func(t *testing.T) {
				t.Parallel()
				c := dial(t, both.addr)
				_, _ = io.WriteString(c, req("POST / HTTP/1.1", "Host: a", "Content-Length: 5"))
				<-time.After(3 * short) // the body comes after the header timeout
				_, _ = io.WriteString(c, "hello")
				readOK(t, bufio.NewReader(c), "hello <nil>")
			})
			t.Run("slow handler", func(t *testing.T) {
				t.Parallel()
				c := dial(t, both.addr)
				_, _ = io.WriteString(c, req("POST /slow HTTP/1.1", "Host: a", "Content-Length: 2")+"hi")
				readOK(t, bufio.NewReader(c), "hi <nil>")
			})
		})
	}
}

// readOK reads one 200 response and checks its body.
func readOK(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fatalf(t, "reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(b) != want {
		fatalf(t, "got %d %q %v, want 200 %q", resp.StatusCode, b, err, want)
	}
}

// TestHeaderMapReused: the next response on a connection starts from the
// last one's header map, emptied, so none of its fields leak into it.
func TestHeaderMapReused(t *testing.T) {
	maps := make(chan uintptr, 2)
	lens := make(chan int, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lens <- len(w.Header())
		maps <- reflect.ValueOf(w.Header()).Pointer()
		if r.URL.Path == "/first" {
			w.Header().Set("X-First", "1")
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv := start(t, impls[1], options{handler: h})
	c := dial(t, srv.addr)
	br := bufio.NewReader(c)
	for _, path := range []string{"/first", "/second"} {
		if _, err := io.WriteString(c, req("GET "+path+" HTTP/1.1", "Host: h")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got, want := resp.Header.Get("X-First"), map[string]string{"/first": "1"}[path]; got != want {
			t.Errorf("%s: X-First = %q, want %q", path, got, want)
		}
		if n := waitFor(t, lens, path); n != 0 {
			t.Errorf("%s: the handler's header starts with %d fields", path, n)
		}
	}
	if first, second := waitFor(t, maps, "first map"), waitFor(t, maps, "second map"); first != second {
		t.Errorf("the second response got a new header map")
	}
}
