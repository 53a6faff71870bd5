package h1server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// streamHandler streams "first", then waits for release (or the client)
// and ends with "last".
func streamHandler(inFlight chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		_, _ = io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		inFlight <- struct{}{}
		select {
		case <-release:
			_, _ = io.WriteString(w, "last")
		case <-r.Context().Done():
		}
	})
}

// openStream starts a /stream request and reads up to its first chunk.
func openStream(t *testing.T, addr string, inFlight <-chan struct{}) *bufio.Reader {
	t.Helper()
	c := dial(t, addr)
	_, _ = io.WriteString(c, req("GET /stream HTTP/1.1", "Host: a"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return firstChunk(t, resp.Body, inFlight)
}

// firstChunk waits until the stream's first chunk arrived and its handler
// is in flight; the reader still holds the chunk.
func firstChunk(t *testing.T, body io.Reader, inFlight <-chan struct{}) *bufio.Reader {
	t.Helper()
	br := bufio.NewReader(body)
	if b, err := br.Peek(len("first ")); err != nil || string(b) != "first " {
		t.Fatalf("first chunk: %q %v", b, err)
	}
	waitFor(t, inFlight, "handler in flight")
	return br
}

// shutdownDuringStream calls Shutdown while stream's handler waits for
// release, checks (after meanwhile) that new connections are refused and
// Shutdown waits, then releases the handler: the stream must end whole
// and Shutdown return nil.
func shutdownDuringStream(t *testing.T, s *running, stream io.Reader, release chan struct{}, meanwhile func()) {
	t.Helper()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*bound)
		defer cancel()
		shut <- s.srv.Shutdown(ctx)
	}()
	meanwhile()
	refused(t, s.addr)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	default:
	}
	close(release)
	if rest, err := io.ReadAll(stream); err != nil || string(rest) != "first last" {
		t.Errorf("stream after Shutdown: %q %v, want \"first last\"", rest, err)
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// idleConn makes one request on a new connection and leaves it idle.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	_, _ = io.WriteString(c, req("GET / HTTP/1.1", "Host: a"))
	readOK(t, bufio.NewReader(c), "ok")
	return c
}

// TestShutdown checks Shutdown refuses new connections, closes idle ones,
// lets a streaming request finish, then returns nil, and Serve returns
// http.ErrServerClosed.
func TestShutdown(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			inFlight, release := make(chan struct{}, 1), make(chan struct{})
			s := start(t, im, options{handler: streamHandler(inFlight, release)})
			stream := openStream(t, s.addr, inFlight)
			idle := idleConn(t, s.addr)

			shutdownDuringStream(t, s, stream, release, func() {
				expectClosed(t, idle, "idle connection on Shutdown")
			})
			if err := s.served(t); !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve after Shutdown returned %v, want http.ErrServerClosed", err)
			}
		})
	}
}

// refused dials addr until the connection is refused (the listener is
// closed), bounded.
func refused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, bound)
		if err != nil {
			return
		}
		// Accepted by a listener not yet closed; the server must not
		// serve it either way.
		_ = c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections %v after Shutdown", addr, bound)
}

// TestShutdownExpired checks Shutdown with a context that ends first
// closes every connection, the streaming one included, and returns the
// context's error; and that Close does the same at once.
func TestShutdownExpired(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				stop func(s server) error
				want error
			}{
				{"expired context", func(s server) error {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					return s.Shutdown(ctx)
				}, context.Canceled},
				{"deadline", func(s server) error {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					defer cancel()
					return s.Shutdown(ctx)
				}, context.DeadlineExceeded},
				{"close", server.Close, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					inFlight, release := make(chan struct{}, 1), make(chan struct{})
					defer close(release)
					s := start(t, im, options{handler: streamHandler(inFlight, release)})
					stream := openStream(t, s.addr, inFlight)
					idle := idleConn(t, s.addr)
					if err := tc.stop(s.srv); !errors.Is(err, tc.want) {
						t.Errorf("got %v, want %v", err, tc.want)
					}
					rest, err := io.ReadAll(stream)
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("stream: %q %v, want it cut (io.ErrUnexpectedEOF)", rest, err)
					}
					expectClosed(t, idle, "idle connection")
					if err := s.served(t); !errors.Is(err, http.ErrServerClosed) {
						t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
					}
				})
			}
		})
	}
}

// TestShutdownH2C checks Shutdown waits for a stream in flight on an h2c
// connection too, and refuses new connections meanwhile.
func TestShutdownH2C(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			inFlight, release := make(chan struct{}, 1), make(chan struct{})
			s := start(t, im, options{handler: streamHandler(inFlight, release), h2: true})
			h2c := client(t, &http.Transport{Protocols: protocols(false, false, true)})
			resp, err := h2c.Get("http://" + s.addr + "/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("got %s, want HTTP/2", resp.Proto)
			}
			shutdownDuringStream(t, s, firstChunk(t, resp.Body, inFlight), release, func() {})
		})
	}
}

// TestServeListeners checks one server serving two listeners stops both
// on Shutdown, and that Serve returns a listener's own failure (here the
// listener closed behind the server's back) instead of http.ErrServerClosed.
func TestServeListeners(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: testHandler()})
			second, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.srv.Serve(second) }()
			for _, addr := range []string{s.addr, second.Addr().String()} {
				c := dial(t, addr)
				_, _ = io.WriteString(c, req("GET /probe HTTP/1.1", "Host: a"))
				readOK(t, bufio.NewReader(c), "probe GET /probe")
			}
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			if err := s.srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			for _, got := range []error{s.served(t), waitFor(t, done, "second Serve")} {
				if !errors.Is(got, http.ErrServerClosed) {
					t.Errorf("Serve returned %v, want http.ErrServerClosed", got)
				}
			}
			refused(t, second.Addr().String())

			other := im.new(options{handler: testHandler()}, slog.New(slog.DiscardHandler))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { done <- other.Serve(ln) }()
			c := dial(t, ln.Addr().String()) // Serve is accepting
			_, _ = io.WriteString(c, req("GET /probe HTTP/1.1", "Host: a"))
			readOK(t, bufio.NewReader(c), "probe GET /probe")
			_ = ln.Close()
			if err := waitFor(t, done, "Serve on a closed listener"); err == nil || errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want the listener's error", err)
			}
			_ = other.Close()
		})
	}
}
