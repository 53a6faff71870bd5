package h1server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzServe writes arbitrary bytes to a connection served by h1server,
// whose handler reads the body and answers its length, then half-closes.
// The server must not panic or hang: it answers and closes within the
// deadline; and every byte it writes must parse as HTTP/1.1 responses.
func FuzzServe(f *testing.F) {
	for _, group := range [][]diffCase{requestCases, responseCases, badCases, bodyCases} {
		for _, tc := range group {
			f.Add([]byte(requestBytesAll(tc.steps)))
		}
	}
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte(req("HEAD / HTTP/1.1", "Host: a") + req("GET / HTTP/1.1", "Host: a")))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			// A HEAD answer carries no body; its Content-Length must still
			// frame nothing, so say 0.
			if r.Method == http.MethodHead {
				w.Header().Set("Content-Length", "0")
			}
			w.Header().Set("X-Body-Error", strconv.FormatBool(err != nil))
			fmt.Fprintf(w, "%d", n)
		}),
		ReadHeaderTimeout: 2 * time.Second,
		IdleTimeout:       2 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.New(slog.DiscardHandler),
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	f.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			f.Errorf("Serve: %v", err)
		}
	})

	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(exchangeTimeout))
		go func() {
			_, _ = c.Write(in)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, err := br.Peek(1); err != nil {
				if e := classify(err, false); e != "EOF" {
					t.Fatalf("after %d responses: %v (the server neither answered nor closed)", i, err)
				}
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d does not parse: %v", i, err)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil && resp.Header.Get("X-Body-Error") != "" {
				// The handler's own answers are framed; the server's
				// error answers end with the connection.
				t.Fatalf("response %d (%d): body %q: %v", i, resp.StatusCode, b, err)
			}
		}
	})
}

// requestBytesAll is every byte the steps write.
func requestBytesAll(steps []step) string {
	var b []byte
	for _, s := range steps {
		b = append(b, s.write...)
	}
	return string(b)
}
