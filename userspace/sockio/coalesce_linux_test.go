package sockio

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// queued is how many bytes wait in c's receive queue. Loopback delivers
// a segment within the sender's write, so a byte written has arrived.
func queued(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ierr != nil {
		t.Fatalf("SIOCINQ: %v %v", err, ierr)
	}
	return n
}

func mustWrite(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if n, err := io.WriteString(w, s); n != len(s) || err != nil {
		t.Fatalf("Write(%d bytes) = %d, %v", len(s), n, err)
	}
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("peer read: %v", err)
	}
	return string(b)
}

func TestCoalesce(t *testing.T) {
	t.Run("the held write leaves with the next one", func(t *testing.T) {
		w, peer := pair(t)
		c := w.(*Conn)
		c.Coalesce()
		mustWrite(t, c, "HEADERS")
		if n := queued(t, peer); n != 0 {
			t.Fatalf("%d bytes reached the peer after the held write, want 0", n)
		}
		mustWrite(t, c, "DATA")
		if got := readN(t, peer, len("HEADERSDATA")); got != "HEADERSDATA" {
			t.Fatalf("peer read %q", got)
		}
		// One hold per Coalesce: the next write goes at once.
		mustWrite(t, c, "more")
		if n := queued(t, peer); n != len("more") {
			t.Fatalf("%d bytes queued after an unheld write, want %d", n, len("more"))
		}
	})
	t.Run("released when no write follows", func(t *testing.T) {
		w, peer := pair(t)
		c := w.(*Conn)
		start := time.Now()
		c.Coalesce()
		mustWrite(t, c, "alone")
		if got := readN(t, peer, len("alone")); got != "alone" {
			t.Fatalf("peer read %q", got)
		}
		if d := time.Since(start); d < maxHold {
			t.Fatalf("released after %v, before maxHold (%v)", d, maxHold)
		}
	})
	t.Run("a large next write keeps the order", func(t *testing.T) {
		w, peer := pair(t)
		c := w.(*Conn)
		big := string(bytes.Repeat([]byte("b"), 3*maxCoalesced))
		c.Coalesce()
		mustWrite(t, c, "H")
		done := make(chan struct{})
		go func() { defer close(done); mustWrite(t, c, big) }()
		if got := readN(t, peer, 1+len(big)); got != "H"+big {
			t.Fatalf("peer read %d bytes in another order", len(got))
		}
		<-done
	})
	t.Run("close sends what is held", func(t *testing.T) {
		w, peer := pair(t)
		c := w.(*Conn)
		c.Coalesce()
		mustWrite(t, c, "bye")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := io.ReadAll(peer); string(got) != "bye" || err != nil {
			t.Fatalf("peer read %q, %v; want the held bytes, then the end", got, err)
		}
	})
	t.Run("a failed release fails the next write", func(t *testing.T) {
		w, peer := pair(t)
		c := w.(*Conn)
		_ = peer.SetLinger(0)
		_ = peer.Close() // a reset: the release's write fails
		time.Sleep(10 * time.Millisecond)
		c.Coalesce()
		mustWrite(t, c, "lost")
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.wmu.Lock()
			err := c.heldErr
			c.wmu.Unlock()
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the release to a reset peer did not fail")
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := c.Write([]byte("next")); err == nil {
			t.Fatal("a write after a failed release succeeded")
		}
	})
}

func TestWithConn(t *testing.T) {
	w, _ := pair(t)
	type wrapped struct{ net.Conn }
	for _, tc := range []struct {
		name string
		c    net.Conn
		want bool
	}{
		{"the wrapped socket", w, true},
		{"under NetConn", netConner{w}, true},
		{"two wrappers down", netConner{netConner{w}}, true},
		{"a wrapper without NetConn", wrapped{w}, false},
		{"an unwrapped socket", Unwrap(w), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := WithConn(context.Background(), tc.c)
			if got := Coalesce(ctx); got != tc.want {
				t.Fatalf("Coalesce found a connection: %v, want %v", got, tc.want)
			}
		})
	}
	w.(*Conn).holdNext.Store(false)
}

type netConner struct{ net.Conn }

func (n netConner) NetConn() net.Conn { return n.Conn }
