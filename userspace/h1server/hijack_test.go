package h1server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// TestUpgradeThroughReverseProxy serves httputil.ReverseProxy in front of
// a backend that answers a WebSocket-style upgrade with 101 and echoes
// bytes: the proxy hijacks the client connection and copies both ways.
func TestUpgradeThroughReverseProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		_, _ = io.Copy(conn, rw) // echo until the client closes
	}))
	t.Cleanup(backend.Close)
	u, err := url.Parse(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: httputil.NewSingleHostReverseProxy(u)})
			c := dial(t, s.addr)
			_, _ = io.WriteString(c, req("GET /chat HTTP/1.1", "Host: ws.test", "Upgrade: websocket", "Connection: Upgrade"))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
				t.Fatalf("got %d %v, want 101 with Upgrade: websocket", resp.StatusCode, resp.Header)
			}
			for _, msg := range []string{"hello", "world", string(make([]byte, 100<<10))} {
				go func() { _, _ = io.WriteString(c, msg) }()
				buf := make([]byte, len(msg))
				if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
					t.Fatalf("echo of %d bytes: %v", len(msg), err)
				}
			}
			// A plain request through the same proxy still works.
			c2 := dial(t, s.addr)
			_, _ = io.WriteString(c2, req("GET / HTTP/1.1", "Host: ws.test"))
			resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("plain request: %v %v, want the backend's 400", resp, err)
			}
		})
	}
}

// TestHijack checks a handler that hijacks gets the connection with the
// bytes the client sent after the request (already buffered by the
// server), and can write its own protocol on it.
func TestHijack(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/header-first" {
					w.Header().Set("X-Before", "1")
					w.WriteHeader(http.StatusSwitchingProtocols)
				}
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				defer conn.Close()
				if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
					fmt.Fprintf(rw, "write after hijack: %v\n", err)
				}
				line, err := rw.ReadString('\n')
				fmt.Fprintf(rw, "raw got %q %v\n", line, err)
				_ = rw.Flush()
			})})
			for _, path := range []string{"/", "/header-first"} {
				t.Run(path, func(t *testing.T) {
					c := dial(t, s.addr)
					// The line after the request arrives in the same write, so
					// the server has it buffered when the handler hijacks.
					_, _ = io.WriteString(c, req("GET "+path+" HTTP/1.1", "Host: a")+"pipelined\n")
					br := bufio.NewReader(c)
					if path == "/header-first" {
						resp, err := http.ReadResponse(br, nil)
						if err != nil || resp.StatusCode != 101 || resp.Header.Get("X-Before") != "1" {
							t.Fatalf("got %v %v, want the 101 written before the hijack", resp, err)
						}
					}
					b, err := io.ReadAll(br)
					if want := "raw got \"pipelined\\n\" <nil>\n"; string(b) != want {
						t.Errorf("got %q (%v), want %q", b, err, want)
					}
				})
			}
		})
	}
}
