package h1server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
)

// protoHandler answers how the request arrived.
var protoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	tlsInfo := "no tls"
	if r.TLS != nil {
		tlsInfo = fmt.Sprintf("tls %q", r.TLS.ServerName)
	}
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Proto, tlsInfo, b)
})

func client(t *testing.T, tr *http.Transport) *http.Client {
	t.Helper()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: bound}
}

func protocols(h1, h2, h2c bool) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(h1)
	p.SetHTTP2(h2)
	p.SetUnencryptedHTTP2(h2c)
	return p
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, b, err)
	}
	return string(b)
}

// TestH2C checks h2c with prior knowledge goes to the HTTP2 server, that
// HTTP/1.1 keeps working on the same listener, and that without HTTP2 an
// h2c client is refused.
func TestH2C(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := start(t, im, options{handler: protoHandler, h2: true})
			h2c := client(t, &http.Transport{Protocols: protocols(false, false, true)})
			if got, want := get(t, h2c, "http://"+s.addr+"/"), "HTTP/2.0 no tls "; got != want {
				t.Errorf("h2c: %q, want %q", got, want)
			}
			resp, err := h2c.Post("http://"+s.addr+"/", "text/plain", bufio.NewReader(io.LimitReader(zeros{}, 100<<10)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(b) != len("HTTP/2.0 no tls ")+100<<10 {
				t.Errorf("h2c POST of 100 KiB: %d bytes back", len(b))
			}
			h1 := client(t, &http.Transport{Protocols: protocols(true, false, false)})
			if got, want := get(t, h1, "http://"+s.addr+"/"), "HTTP/1.1 no tls "; got != want {
				t.Errorf("http/1.1 beside h2c: %q, want %q", got, want)
			}

			// A request shorter than the preface that starts like it is
			// answered at once, not after the header timeout.
			for _, short := range []string{"PUT / HTTP/1.0\r\n\r\n", "PRI / HTTP/1.0\r\n\r\n"} {
				c := dial(t, s.addr)
				_ = c.SetDeadline(time.Now().Add(bound))
				_, _ = io.WriteString(c, short)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Errorf("%q beside h2c: %v", short, err)
				} else if b, _ := io.ReadAll(resp.Body); string(b) != "HTTP/1.0 no tls " {
					t.Errorf("%q beside h2c: %d %q", short, resp.StatusCode, b)
				}
			}

			plain := start(t, im, options{handler: protoHandler})
			if resp, err := h2c.Get("http://" + plain.addr + "/"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Errorf("h2c without HTTP2 offered: %d %q, want an error", resp.StatusCode, b)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestTLS checks TLS listeners: ALPN h2 goes to HTTP2, http/1.1 is served
// here with r.TLS set, and a server without HTTP2 serves an h2-capable
// client over HTTP/1.1.
func TestTLS(t *testing.T) {
	ca := httproutetest.NewCA(t, "h1server test CA")
	leaf := ca.Issue(t, "h1.test", "127.0.0.1")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	clientTLS := &tls.Config{RootCAs: roots, ServerName: "h1.test"}
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			withH2 := start(t, im, options{handler: protoHandler, h2: true, tls: &tls.Config{
				Certificates: []tls.Certificate{leaf.TLS}, NextProtos: []string{"h2", "http/1.1"}}})
			withoutH2 := start(t, im, options{handler: protoHandler, tls: &tls.Config{
				Certificates: []tls.Certificate{leaf.TLS}}})
			for _, tc := range []struct {
				name   string
				addr   string
				protos *http.Protocols
				want   string
			}{
				{"h2", withH2.addr, protocols(false, true, false), `HTTP/2.0 tls "h1.test" `},
				{"http/1.1", withH2.addr, protocols(true, false, false), `HTTP/1.1 tls "h1.test" `},
				{"both offered", withH2.addr, protocols(true, true, false), `HTTP/2.0 tls "h1.test" `},
				{"no HTTP2", withoutH2.addr, protocols(true, true, false), `HTTP/1.1 tls "h1.test" `},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := client(t, &http.Transport{TLSClientConfig: clientTLS.Clone(), Protocols: tc.protos})
					if got := get(t, c, "https://"+tc.addr+"/"); got != tc.want {
						t.Errorf("got %q, want %q", got, tc.want)
					}
				})
			}
			t.Run("client gone cancels the context", func(t *testing.T) {
				started, seen := make(chan struct{}, 1), make(chan error, 1)
				s := start(t, im, options{tls: &tls.Config{Certificates: []tls.Certificate{leaf.TLS}},
					handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						awaitCancel(r, started, seen)
					})})
				c, err := tls.Dial("tcp", s.addr, clientTLS.Clone())
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.WriteString(c, req("GET / HTTP/1.1", "Host: a"))
				waitFor(t, started, "handler start")
				_ = c.Close()
				if err := waitFor(t, seen, "handler"); !errors.Is(err, context.Canceled) {
					t.Errorf("handler saw %v, want context.Canceled", err)
				}
			})
			t.Run("plain request to TLS", func(t *testing.T) {
				markKnown(t)
				c := dial(t, withoutH2.addr)
				_, _ = io.WriteString(c, req("GET / HTTP/1.1", "Host: a"))
				// net/http tells the client what went wrong.
				b := expectClosed(t, c, "plain HTTP on a TLS listener")
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
				if err != nil || resp.StatusCode != http.StatusBadRequest {
					fatalf(t, "got %q, want a 400 answer", b)
				}
			})
		})
	}
}

// countingListener counts the Read calls on the connections it accepts.
type countingListener struct {
	net.Listener
	reads atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, reads: &l.reads}, nil
}

type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(b)
}

// TestH2CReadsBuffered checks the h2c connection handed to the HTTP/2
// server reads through a buffer: net/http's server reads a frame's 9-byte
// header and then its payload, so unbuffered a request (HEADERS and DATA)
// takes at least four reads of the socket; buffered, what arrived together
// is read at once.
func TestH2CReadsBuffered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := newH1server(options{handler: protoHandler, h2: true}, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(cl)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	h2c := client(t, &http.Transport{Protocols: protocols(false, false, true)})
	url := "http://" + ln.Addr().String() + "/"
	get(t, h2c, url) // the connection and its settings
	const n = 50
	before := cl.reads.Load()
	for i := range n {
		body := fmt.Sprintf("request %d", i)
		resp, err := h2c.Post(url, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "HTTP/2.0 no tls " + body; err != nil || string(b) != want {
			t.Fatalf("POST %d: %q %v, want %q", i, b, err, want)
		}
	}
	if reads := cl.reads.Load() - before; reads > 2*n {
		t.Errorf("%d reads for %d h2c requests, want at most %d", reads, n, 2*n)
	}
}
