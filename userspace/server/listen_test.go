package server

import (
	"net"
	"testing"
	"time"
)

// TestListenNewestTakesNewConnections is the overlap of an upgrade: two
// sockets on one address, the second one (the new process) gets every new
// connection while both are open, and the first gets them back once the
// second is gone.
func TestListenNewestTakesNewConnections(t *testing.T) {
	old, err := Listen("public", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	addr := old.Addr().String()
	next, err := Listen("public", addr)
	if err != nil {
		t.Fatalf("second bind of %s with SO_REUSEPORT: %v", addr, err)
	}
	hits := acceptLoops(old, next)
	const n = 20
	if got := dialCount(t, addr, n, hits, 2); got[1] != n {
		t.Fatalf("old accepted %d, new accepted %d of %d: want all on the new socket", got[0], got[1], n)
	}
	next.Close()
	if got := dialCount(t, addr, n, hits, 2); got[0] != n {
		t.Fatalf("after the new socket closed the old one accepted %d of %d", got[0], n)
	}
}

// acceptLoops accepts on every listener until it closes and reports the
// index of the listener that accepted each connection.
func acceptLoops(lns ...net.Listener) <-chan int {
	hits := make(chan int, 64)
	for i, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
				hits <- i
			}
		}()
	}
	return hits
}

// dialCount dials addr n times and counts which listener accepted each.
func dialCount(t *testing.T, addr string, n int, hits <-chan int, listeners int) []int {
	t.Helper()
	counts := make([]int, listeners)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.Close()
		select {
		case i := <-hits:
			counts[i]++
		case <-time.After(5 * time.Second):
			t.Fatal("connection not accepted within 5s")
		}
	}
	return counts
}

func TestUpgradeAddr(t *testing.T) {
	t.Setenv(UpgradeAddrsEnv, FormatUpgradeAddrs(map[string]string{"public": "127.0.0.1:4100", AdminSocket: "127.0.0.1:4101"}))
	for _, tc := range []struct{ name, configured, want string }{
		{"public", "127.0.0.1:0", "127.0.0.1:4100"},
		{AdminSocket, "127.0.0.1:0", "127.0.0.1:4101"},
		{"public", "127.0.0.1:8080", "127.0.0.1:8080"}, // a fixed port is the config's to change
		{"other", "127.0.0.1:0", "127.0.0.1:0"},
		{"public", "not-an-address", "not-an-address"},
	} {
		t.Run(tc.name+"/"+tc.configured, func(t *testing.T) {
			if got := upgradeAddr(tc.name, tc.configured); got != tc.want {
				t.Fatalf("upgradeAddr(%q, %q) = %q, want %q", tc.name, tc.configured, got, tc.want)
			}
		})
	}
}
