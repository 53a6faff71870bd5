package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weir-gateway/weir/userspace/sockio"
)

// TestCommitCoalesces checks which commits ask the client's socket to
// hold the HEADERS write for the DATA: over HTTP/2 and HTTP/3 with a body
// to follow, and never over HTTP/1.1, whose server writes both at once,
// or without a body, which would leave the headers waiting.
func TestCommitCoalesces(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams bool
		body    bool
		held    bool
	}{
		{"http/2 with a body", true, true, true},
		{"http/2 without a body", true, false, false},
		{"http/1.1 with a body", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := loopback(t)
			w := httptest.NewRecorder()
			s := &sink{w: w, rc: *http.NewResponseController(w), streams: tc.streams, ctx: sockio.WithConn(context.Background(), c)}
			s.commitLocked(http.StatusOK, "application/json", tc.body)
			if _, err := c.Write([]byte("frame")); err != nil {
				t.Fatal(err)
			}
			var n int
			raw, _ := peer.(*net.TCPConn).SyscallConn()
			_ = raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
			if held := n == 0; held != tc.held {
				t.Fatalf("the next write was held: %v, want %v", held, tc.held)
			}
		})
	}
}

// loopback returns a sockio-wrapped TCP connection and its peer.
func loopback(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := sockio.Wrap(c)
	t.Cleanup(func() { w.Close(); peer.Close() })
	return w, peer
}
