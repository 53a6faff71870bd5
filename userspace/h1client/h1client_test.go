package h1client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/sockio"
)

// countingServer is an httptest server that counts the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func post(t *testing.T, ctx context.Context, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestRoundTrip(t *testing.T) {
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part1 "))
			w.(http.Flusher).Flush()
			w.Write(b)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write(b)
		default:
			w.Header().Set("X-Method", r.Method)
			w.Write(b)
		}
	})
	tests := []struct {
		name      string
		path      string
		want      string
		status    int
		newConns  int64 // connections the second of two identical requests opens
		pooledAft int
	}{
		{name: "content-length", path: "/", want: "hello", status: 200, newConns: 0, pooledAft: 1},
		{name: "chunked", path: "/chunked", want: "part1 hello", status: 200, newConns: 0, pooledAft: 1},
		{name: "no body", path: "/empty", want: "", status: 204, newConns: 0, pooledAft: 1},
		{name: "connection close", path: "/close", want: "hello", status: 200, newConns: 1, pooledAft: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Options{})
			defer tr.CloseIdleConnections()
			var before int64
			for i := range 2 {
				if i == 1 {
					before = conns.Load()
				}
				resp, err := tr.RoundTrip(post(t, context.Background(), s.URL+tt.path, "hello"))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != tt.want || resp.StatusCode != tt.status {
					t.Fatalf("got %d %q %v, want %d %q", resp.StatusCode, b, err, tt.status, tt.want)
				}
			}
			if got := conns.Load() - before; got != tt.newConns {
				t.Errorf("second request opened %d connections, want %d", got, tt.newConns)
			}
			if got := tr.IdleConnections(); got != tt.pooledAft {
				t.Errorf("%d idle connections after, want %d", got, tt.pooledAft)
			}
			// The default dialer gives raw-I/O sockets (package sockio).
			for _, list := range tr.idle {
				for _, c := range list {
					if _, ok := c.Conn.(*sockio.Conn); runtime.GOOS == "linux" && !ok {
						t.Errorf("pooled connection is a %T, want *sockio.Conn", c.Conn)
					}
				}
			}
		})
	}
}

// TestStreamsWithoutBuffering checks each flushed chunk reaches the caller
// before the server writes the next one.
func TestStreamsWithoutBuffering(t *testing.T) {
	next := make(chan struct{})
	s, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(10 * time.Second):
				return
			}
		}
	})
	tr := New(Options{})
	resp, err := tr.RoundTrip(post(t, context.Background(), s.URL, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("chunk %d: %q %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{}
	}
}

// TestCancelUnblocksRead cancels the request while its body read is
// blocked: the read returns an error naming the cancellation and the
// connection is not pooled.
func TestCancelUnblocksRead(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		<-release
	})
	tr := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := tr.RoundTrip(post(t, ctx, s.URL, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = resp.Body.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
	resp.Body.Close()
	if n := tr.IdleConnections(); n != 0 {
		t.Fatalf("%d idle connections after a cancelled read", n)
	}
}

// TestCloseBeforeEOF closes a body that was not read to the end: the
// connection is closed, not pooled.
func TestCloseBeforeEOF(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 64<<10))
	})
	tr := New(Options{})
	resp, err := tr.RoundTrip(post(t, context.Background(), s.URL, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := tr.IdleConnections(); n != 0 {
		t.Fatalf("%d idle connections after an early close", n)
	}
}

// rawServer answers each connection with handle, reading one request first.
func rawServer(t *testing.T, handle func(c net.Conn, br *bufio.Reader, n int)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(accepted.Add(1))
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c, bufio.NewReader(c), n)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &accepted
}

func readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, req.Body)
	return true
}

// TestStaleConnectionRetried: the server closes a kept-alive connection
// right after answering; the next request is written on the dead
// connection, sees EOF before any response byte and is retried once on a
// new connection with its body replayed.
func TestStaleConnectionRetried(t *testing.T) {
	url, accepted := rawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		// close without saying so: a keep-alive timeout on the server
	})
	tr := New(Options{})
	for i, body := range []string{"one", "two"} {
		resp, err := tr.RoundTrip(post(t, context.Background(), url, body))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != body {
			t.Fatalf("request %d: got %q", i, b)
		}
		// let the server's close arrive before the next request
		time.Sleep(20 * time.Millisecond)
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("accepted %d connections, want 2 (one retry)", n)
	}
}

// TestStaleNotReplayable: a body without GetBody cannot be sent twice.
func TestStaleNotReplayable(t *testing.T) {
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
		if readRequest(br) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := New(Options{})
	resp, err := tr.RoundTrip(post(t, context.Background(), url, "x"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	time.Sleep(20 * time.Millisecond)
	req := post(t, context.Background(), url, "x")
	req.GetBody = nil
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a stale connection with a body that cannot be replayed must fail")
	}
}

func TestAlive(t *testing.T) {
	tests := []struct {
		name string
		peer func(net.Conn)
		want bool
	}{
		{"open", func(net.Conn) {}, true},
		{"closed by peer", func(c net.Conn) { c.Close() }, false},
		{"unexpected bytes", func(c net.Conn) { c.Write([]byte("HTTP/1.1 408\r\n")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			tt.peer(p)
			time.Sleep(20 * time.Millisecond)
			if got := alive(c); got != tt.want {
				t.Fatalf("alive = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInformationalSkipped(t *testing.T) {
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
		if readRequest(br) {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	resp, err := New(Options{}).RoundTrip(post(t, context.Background(), url, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply string
	}{
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n"},
		{"closed at once", ""},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"bad status", "HTTP/1.1 abc OK\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
				if readRequest(br) {
					io.WriteString(c, tt.reply)
				}
			})
			resp, err := New(Options{}).RoundTrip(post(t, context.Background(), url, "x"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got %d, want an error", resp.StatusCode)
			}
		})
	}
	t.Run("https refused", func(t *testing.T) {
		_, err := New(Options{}).RoundTrip(post(t, context.Background(), "https://127.0.0.1:1/", "x"))
		if err == nil || !strings.Contains(err.Error(), "http only") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("dial", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		_, err := New(Options{}).RoundTrip(post(t, context.Background(), "http://"+addr+"/", "x"))
		if err == nil || !strings.Contains(err.Error(), "dial") {
			t.Fatalf("err = %v", err)
		}
	})
}

// FuzzResponse feeds arbitrary bytes as the upstream's answer: RoundTrip
// and reading the body must return, with a response or an error, never
// panic or hang.
func FuzzResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		tr := New(Options{Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				_ = server.SetDeadline(time.Now().Add(2 * time.Second))
				if readRequest(bufio.NewReader(server)) {
					_, _ = server.Write(reply)
				}
			}()
			return client, nil
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := tr.RoundTrip(post(t, ctx, "http://upstream.test/", "x"))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	})
}

// TestEarlyAnswer: the upstream answers 413 after reading part of a large
// body and closes; the client gets the 413, not the broken pipe.
func TestEarlyAnswer(t *testing.T) {
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!")
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(50 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0) // reset: the rest of the body is refused
	})
	req := post(t, context.Background(), url, strings.Repeat("x", 32<<20))
	resp, err := New(Options{}).RoundTrip(req)
	if err != nil {
		t.Fatalf("got error %v, want the upstream's 413", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "too big!" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

// TestClose: after Close the idle connections are gone, a request still in
// flight completes and its connection is closed instead of kept, and new
// requests still work.
func TestClose(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		w.Write([]byte("ok"))
	})
	tr := New(Options{})
	roundTrip := func(path string) error {
		resp, err := tr.RoundTrip(post(t, context.Background(), s.URL+path, "x"))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	if err := roundTrip("/"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- roundTrip("/slow") }() // takes the idle connection
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the server")
	}
	if err := roundTrip("/"); err != nil { // a second connection, now idle
		t.Fatal(err)
	}
	if tr.IdleConnections() != 1 {
		t.Fatalf("%d idle connections before Close, want 1", tr.IdleConnections())
	}
	tr.Close()
	if n := tr.IdleConnections(); n != 0 {
		t.Fatalf("%d idle connections after Close", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := tr.IdleConnections(); n != 0 {
		t.Fatalf("the in-flight request's connection was kept after Close (%d idle)", n)
	}
	if err := roundTrip("/"); err != nil {
		t.Fatalf("a request after Close: %v", err)
	}
}
