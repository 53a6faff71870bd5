package steer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/internal/privileged"
)

// lab is a network namespace with the steering program attached and its
// maps pinned in a fresh root; cleanup uninstalls it and checks the root is
// gone.
type lab struct {
	ns    *netnstest.NS
	steer *Steer
	root  string
}

func newLab(t *testing.T, localRoutes ...string) *lab {
	t.Helper()
	privileged.Require(t)
	l := &lab{ns: netnstest.New(t, "steer")}
	b := make([]byte, 4)
	rand.Read(b)
	l.root = filepath.Join("/sys/fs/bpf", "weir-steer-test-"+hex.EncodeToString(b))
	t.Cleanup(func() {
		if _, err := os.Stat(l.root); err == nil {
			entries, _ := os.ReadDir(l.root)
			os.RemoveAll(l.root)
			t.Errorf("pins left behind in %s: %v", l.root, entries)
		}
	})
	if err := l.ns.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		for _, r := range localRoutes {
			_, dst, err := net.ParseCIDR(r)
			if err != nil {
				return err
			}
			// AnyIP: the whole prefix is local, nothing is bound to it.
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: lo.Attrs().Index, Dst: dst, Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: unix.RT_SCOPE_HOST}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("local routes: %v", err)
	}
	s, err := New(Options{Root: l.root, NetNS: l.ns.Path()})
	if err != nil {
		t.Fatalf("steer.New: %v", err)
	}
	l.steer = s
	t.Cleanup(func() {
		if err := l.steer.Uninstall(); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})
	return l
}

// listen opens a plain-TCP listener inside the namespace.
func (l *lab) listen(t *testing.T, network, addr string) *net.TCPListener {
	t.Helper()
	var ln net.Listener
	if err := l.ns.Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false) // an MPTCP socket cannot go into a SOCKMAP
		var err error
		ln, err = lc.Listen(context.Background(), network, addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// listenBacklog opens a listener with a tiny accept queue that nobody
// accepts from: the queue of a tenant that floods.
func (l *lab) listenBacklog(t *testing.T, backlog int) *net.TCPListener {
	t.Helper()
	var ln net.Listener
	if err := l.ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), "backlog")
		defer f.Close()
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		if err := unix.Listen(fd, backlog); err != nil {
			return err
		}
		ln, err = net.FileListener(f)
		return err
	}); err != nil {
		t.Fatalf("listen with backlog %d: %v", backlog, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// dial connects from the namespace (from src when set) and returns the
// connection or the error.
func (l *lab) dial(src, dst string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := l.ns.Do(func() error {
		d := net.Dialer{Timeout: timeout}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		var err error
		c, err = d.Dial("tcp", dst)
		return err
	})
	return c, err
}

// acceptOne waits for one connection on ln and returns its local address.
func acceptOne(t *testing.T, ln *net.TCPListener) string {
	t.Helper()
	ln.SetDeadline(time.Now().Add(3 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept on %s: %v", ln.Addr(), err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// register puts ln in the listener's slot.
func (l *lab) register(t *testing.T, name string, ln *net.TCPListener) {
	t.Helper()
	if err := l.steer.Register(name, ln); err != nil {
		t.Fatal(err)
	}
}

// connectTo dials dst and checks ln accepts the connection.
func (l *lab) connectTo(t *testing.T, dst string, ln *net.TCPListener) {
	t.Helper()
	c, err := l.dial("", dst, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", dst, err)
	}
	c.Close()
	acceptOne(t, ln)
}

func stats(t *testing.T, s *Steer) map[string]ListenerStats {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ListenerStats{}
	for _, l := range st {
		out[l.Listener] = l
	}
	return out
}

func pr(first, last uint16) PortRange { return PortRange{First: first, Last: last} }

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestPrivilegedSteerAddressAndPortRange steers a whole IPv4 and IPv6
// prefix and a port range to one socket bound elsewhere, a neighbouring
// port to another, and checks what no rule covers is refused; then swaps a
// new socket into the slot (an upgrade) and empties it.
func TestPrivilegedSteerAddressAndPortRange(t *testing.T) {
	l := newLab(t, "10.99.0.0/24", "10.98.0.0/24", "fd00:99::/64")
	a := l.listen(t, "tcp", "[::]:0") // dual stack: takes IPv4 and IPv6
	b := l.listen(t, "tcp4", "127.0.0.1:0")
	if err := l.steer.Sync(Desired{Rules: []Rule{
		{Listener: "a", Destinations: prefixes("10.99.0.0/24", "fd00:99::/64"), Ports: []PortRange{pr(7000, 7009)}},
		{Listener: "b", Destinations: prefixes("10.99.0.0/24"), Ports: []PortRange{pr(7010, 7010)}},
	}}); err != nil {
		t.Fatal(err)
	}
	for name, ln := range map[string]*net.TCPListener{"a": a, "b": b} {
		l.register(t, name, ln)
	}
	for _, tc := range []struct {
		dst  string
		want *net.TCPListener // nil: refused
	}{
		{"10.99.0.1:7000", a},
		{"10.99.0.200:7009", a},
		{"[fd00:99::5]:7005", a},
		{"10.99.0.7:7010", b},
		{"10.99.0.1:7011", nil},    // port outside every range
		{"10.98.0.1:7000", nil},    // local, but outside the prefix
		{"[fd00:99::5]:7010", nil}, // rule b has no IPv6 destination
	} {
		t.Run(tc.dst, func(t *testing.T) {
			c, err := l.dial("", tc.dst, 2*time.Second)
			if tc.want == nil {
				if err == nil {
					c.Close()
					t.Fatalf("dial %s: connected, want refused", tc.dst)
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("dial %s: %v, want connection refused", tc.dst, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial %s: %v", tc.dst, err)
			}
			defer c.Close()
			if got := acceptOne(t, tc.want); got != tc.dst {
				t.Fatalf("accepted connection's local address %s, want the dialed %s", got, tc.dst)
			}
		})
	}
	st := stats(t, l.steer)
	if st["a"].Steered != 3 || st["b"].Steered != 1 {
		t.Fatalf("steered a=%d b=%d, want 3 and 1 (%+v)", st["a"].Steered, st["b"].Steered, st)
	}

	// Upgrade: a new socket takes the slot; the old one gets nothing new.
	a2 := l.listen(t, "tcp", "[::]:0")
	l.register(t, "a", a2)
	l.connectTo(t, "10.99.0.3:7001", a2)
	a.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c, err := a.Accept(); err == nil {
		c.Close()
		t.Fatal("the replaced socket still got a connection")
	}
	// A closed socket leaves its slot: the rule misses and falls through.
	a2.Close()
	if c, err := l.dial("", "10.99.0.3:7001", 2*time.Second); err == nil {
		c.Close()
		t.Fatal("connected with the listener's slot empty")
	}
	if st := stats(t, l.steer); st["a"].MissNoSocket != 1 || st["a"].Socket {
		t.Fatalf("after closing the socket: %+v, want one no_socket miss and no socket", st["a"])
	}
}

// TestPrivilegedSteerTenantIsolation floods connections from one tenant
// (source 127.0.0.2) at a port whose accept queue nobody drains. With the
// tenant in its own class, only its own queue overflows and the victim
// (127.0.0.3) keeps connecting to the shared listener; with one shared
// queue, the same flood locks the victim out.
func TestPrivilegedSteerTenantIsolation(t *testing.T) {
	for _, isolated := range []bool{true, false} {
		name := "shared-queue"
		if isolated {
			name = "own-queue"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t)
			public := l.listen(t, "tcp4", "127.0.0.1:0")
			flooded := l.listenBacklog(t, 2)
			port := uint16(public.Addr().(*net.TCPAddr).Port)
			dst := public.Addr().String()
			d := Desired{Rules: []Rule{{Listener: "public", Destinations: prefixes("127.0.0.1/32"), Ports: []PortRange{{port, port}}}}}
			if isolated {
				d.Classes = []Class{{Name: "team-a", Listener: "team-a", Sources: prefixes("127.0.0.2/32")}}
			} else {
				// One queue for everyone, drained by nobody.
				d.Rules[0].Listener = "team-a"
			}
			if err := l.steer.Sync(d); err != nil {
				t.Fatal(err)
			}
			l.register(t, "public", public)
			l.register(t, "team-a", flooded)
			accepted := make(chan struct{}, 64)
			go func() {
				for {
					c, err := public.Accept()
					if err != nil {
						return
					}
					c.Close()
					accepted <- struct{}{}
				}
			}()

			// The flood: non-blocking connects from team-a, kept open.
			const flood = 64
			for range flood {
				var fd int
				if err := l.ns.Do(func() error {
					var err error
					fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return err
					}
					if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 2}}); err != nil {
						return err
					}
					err = unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: int(port)})
					if errors.Is(err, unix.EINPROGRESS) {
						return nil
					}
					return err
				}); err != nil {
					t.Fatalf("flood connect: %v", err)
				}
				t.Cleanup(func() { unix.Close(fd) })
			}
			time.Sleep(200 * time.Millisecond) // let the handshakes complete and fill the queue

			const victims = 5
			ok := 0
			var failures []string
			for range victims {
				c, err := l.dial("127.0.0.3", dst, 700*time.Millisecond)
				if err != nil {
					failures = append(failures, err.Error())
					continue
				}
				c.Close()
				ok++
			}
			st := stats(t, l.steer)
			t.Logf("%s: victim connects %d/%d (flood steered to team-a: %d)", name, ok, victims, st["team-a"].Steered)
			if isolated {
				if ok != victims {
					t.Fatalf("victim connects failed while team-a flooded its own queue: %s", strings.Join(failures, "; "))
				}
				for range victims {
					select {
					case <-accepted:
					case <-time.After(3 * time.Second):
						t.Fatal("victim connection not accepted by the public listener")
					}
				}
				if st["public"].Steered != victims {
					t.Fatalf("public steered %d, want %d", st["public"].Steered, victims)
				}
				if st["team-a"].Steered < 3 {
					t.Fatalf("team-a steered %d: the flood did not reach its own listener", st["team-a"].Steered)
				}
			} else if ok == victims {
				t.Fatal("with one shared, full accept queue every victim connect succeeded: the flood does not overflow the queue")
			}
		})
	}
}

// TestPrivilegedSteerTakeOver is a restart: a second Steer on the same root
// takes over the pinned link and the listener slots, and the counters carry
// over.
func TestPrivilegedSteerTakeOver(t *testing.T) {
	l := newLab(t, "10.97.0.0/24")
	ln := l.listen(t, "tcp4", "127.0.0.1:0")
	d := Desired{Rules: []Rule{{Listener: "public", Destinations: prefixes("10.97.0.0/24"), Ports: []PortRange{pr(80, 80)}}}}
	if err := l.steer.Sync(d); err != nil {
		t.Fatal(err)
	}
	l.register(t, "public", ln)
	l.connectTo(t, "10.97.0.1:80", ln)
	l.steer.Close()

	next, err := New(Options{Root: l.root, NetNS: l.ns.Path()})
	if err != nil {
		t.Fatalf("second New on the same root: %v", err)
	}
	l.steer = next // cleanup uninstalls this one
	if err := next.Sync(d); err != nil {
		t.Fatal(err)
	}
	ln2 := l.listen(t, "tcp4", "127.0.0.1:0")
	l.register(t, "public", ln2)
	l.connectTo(t, "10.97.0.2:80", ln2)
	st := stats(t, next)
	if st["public"].Steered != 2 || st["public"].Slot != 0 {
		t.Fatalf("after take-over: %+v, want slot 0 steered twice", st["public"])
	}
	r, err := Inspect(l.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rules) != 1 || r.Rules[0].Destination != "10.97.0.0/24" || r.Rules[0].Listener != "public" || len(r.Ports) != 1 || r.Ports[0].Ports != "80" {
		t.Fatalf("inspect: %+v", r)
	}
}

// TestPrivilegedSteerRemove: a weir whose config drops the rules removes
// what an earlier one left pinned, even while that one still runs, and the
// namespace stops steering.
func TestPrivilegedSteerRemove(t *testing.T) {
	l := newLab(t, "10.95.0.0/24")
	ln := l.listen(t, "tcp4", "127.0.0.1:0")
	if err := l.steer.Sync(Desired{Rules: []Rule{{Listener: "public", Destinations: prefixes("10.95.0.0/24"), Ports: []PortRange{pr(80, 80)}}}}); err != nil {
		t.Fatal(err)
	}
	l.register(t, "public", ln)
	l.connectTo(t, "10.95.0.1:80", ln)

	// The old process still holds the link (an upgrade to a config
	// without rules): Remove must detach it all the same.
	removed, err := Remove(l.root)
	if err != nil || !removed {
		t.Fatalf("Remove = %t, %v", removed, err)
	}
	if c, err := l.dial("", "10.95.0.1:80", 2*time.Second); err == nil {
		c.Close()
		t.Fatal("still steered after Remove")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Remove: %v, want connection refused", err)
	}
	if removed, err := Remove(l.root); err != nil || removed {
		t.Fatalf("second Remove = %t, %v; want nothing to do", removed, err)
	}
	l.steer.Close()
	// Nothing left for the lab's Uninstall: load a fresh one for it.
	if l.steer, err = New(Options{Root: l.root, NetNS: l.ns.Path()}); err != nil {
		t.Fatal(err)
	}
}
