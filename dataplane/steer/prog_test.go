package steer

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/steer/internal/steerbpf"
	"github.com/weir-gateway/weir/internal/privileged"
)

// skLookup is struct bpf_sk_lookup as BPF_PROG_TEST_RUN takes it: the
// selected socket's cookie comes back in Cookie.
type skLookup struct {
	Cookie     uint64
	Family     uint32
	Protocol   uint32
	RemoteIP4  [4]byte
	RemoteIP6  [16]byte
	RemotePort uint16 // network order
	_          uint16
	LocalIP4   [4]byte
	LocalIP6   [16]byte
	LocalPort  uint32 // host order
	Ifindex    uint32
	_          uint32
}

const (
	afInet, afInet6 = 2, 10
	protoTCP        = 6
	protoUDP        = 17
)

// lookup builds the context of a connection from src to dst.
func lookup(proto uint32, src, dst string) skLookup {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	l := skLookup{Protocol: proto, LocalPort: uint32(d.Port())}
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], s.Port())
	l.RemotePort = binary.NativeEndian.Uint16(port[:])
	if d.Addr().Is4() {
		l.Family = afInet
		l.RemoteIP4, l.LocalIP4 = s.Addr().As4(), d.Addr().As4()
	} else {
		l.Family = afInet6
		l.RemoteIP6, l.LocalIP6 = s.Addr().As16(), d.Addr().As16()
	}
	return l
}

// loadUnpinned loads the program and fresh, unpinned maps (attached
// nowhere: for prog.Run).
func loadUnpinned(tb testing.TB) *Steer {
	tb.Helper()
	privileged.Require(tb)
	spec, err := steerbpf.LoadSteer()
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(coll.Close)
	return &Steer{coll: coll}
}

func listenPlain(tb testing.TB, network, addr string) *net.TCPListener {
	tb.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// cookie is the socket cookie the SOCKMAP reports for a slot.
func cookie(tb testing.TB, s *Steer, name string) uint64 {
	tb.Helper()
	slot, err := s.slot(name)
	if err != nil {
		tb.Fatal(err)
	}
	var c uint64
	if err := s.maps(steerbpf.SteerMapWeirSteerSocks).Lookup(slot, &c); err != nil {
		tb.Fatalf("cookie of %s: %v", name, err)
	}
	return c
}

// TestPrivilegedSteerProgram runs the program on lookup contexts
// (BPF_PROG_TEST_RUN): which socket it selects for each connection.
func TestPrivilegedSteerProgram(t *testing.T) {
	s := loadUnpinned(t)
	ports := []PortRange{pr(80, 80), pr(8000, 8099)}
	if err := s.Sync(Desired{
		Rules: []Rule{
			{Listener: "public", Destinations: prefixes("10.96.0.0/16"), Ports: ports},
			{Listener: "public6", Destinations: prefixes("fd00:96::/64"), Ports: ports},
			{Listener: "admin", Destinations: prefixes("10.96.0.1/32"), Ports: []PortRange{pr(8050, 8050)}},
			{Listener: "ghost", Ports: []PortRange{pr(9000, 9000)}},
		},
		Classes: []Class{{Name: "team-a", Listener: "team-a", Sources: prefixes("192.0.2.0/24", "2001:db8::/32")}},
	}); err != nil {
		t.Fatal(err)
	}
	// Sockets bound to loopback addresses only; nothing connects to them.
	socks := map[string]*net.TCPListener{
		"public":  listenPlain(t, "tcp4", "127.0.0.1:0"),
		"public6": listenPlain(t, "tcp6", "[::1]:0"), // IPv6 only
		"admin":   listenPlain(t, "tcp4", "127.0.0.1:0"),
		"team-a":  listenPlain(t, "tcp4", "127.0.0.1:0"), // IPv4 only
	}
	for name, ln := range socks {
		if err := s.Register(name, ln); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, src, dst string
		proto          uint32
		want           string // "" = none selected: the normal lookup goes on
	}{
		{"v4 in prefix and range", "198.51.100.7:40000", "10.96.3.4:8000", protoTCP, "public"},
		{"v4 single port", "198.51.100.7:40000", "10.96.255.255:80", protoTCP, "public"},
		{"v6 in prefix", "[2001:db9::1]:40000", "[fd00:96::9]:8099", protoTCP, "public6"},
		{"longest prefix wins", "198.51.100.7:40000", "10.96.0.1:8050", protoTCP, "admin"},
		{"same address, other port", "198.51.100.7:40000", "10.96.0.1:8051", protoTCP, "public"},
		{"tenant class", "192.0.2.9:40000", "10.96.3.4:8000", protoTCP, "team-a"},
		{"tenant class on another rule", "192.0.2.9:40000", "10.96.0.1:8050", protoTCP, "team-a"},
		// team-a's socket is IPv4 only: the kernel refuses it for IPv6,
		// and the rule's own listener takes the connection.
		{"tenant class, socket of the wrong family", "[2001:db8::5]:40000", "[fd00:96::9]:80", protoTCP, "public6"},
		{"port outside ranges", "198.51.100.7:40000", "10.96.3.4:8100", protoTCP, ""},
		{"address outside prefixes", "198.51.100.7:40000", "10.97.0.1:8000", protoTCP, ""},
		{"v6 outside prefixes", "[2001:db9::1]:40000", "[fd00:97::1]:8000", protoTCP, ""},
		{"udp is not steered", "198.51.100.7:40000", "10.96.3.4:8000", protoUDP, ""},
		{"listener without socket", "198.51.100.7:40000", "10.1.2.3:9000", protoTCP, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := lookup(tc.proto, tc.src, tc.dst)
			var out skLookup
			ret, err := s.coll.Programs[steerbpf.SteerProgWeirSteer].Run(&ebpf.RunOptions{Context: in, ContextOut: &out})
			if err != nil {
				t.Fatal(err)
			}
			if ret != 1 { // SK_PASS
				t.Fatalf("verdict %d, want SK_PASS", ret)
			}
			var want uint64
			if tc.want != "" {
				want = cookie(t, s, tc.want)
			}
			if out.Cookie != want {
				t.Fatalf("selected socket cookie %d, want %d (%s)", out.Cookie, want, tc.want)
			}
		})
	}
	st := stats(t, s)
	if st["ghost"].MissNoSocket != 1 || st["team-a"].MissAssign != 1 || st["team-a"].Steered != 2 || st["public"].Steered != 3 {
		t.Errorf("counters: %+v", st)
	}
}

// BenchmarkSteerLookup is the program's cost per connection lookup
// (BPF_PROG_TEST_RUN, a tenant-class hit on an IPv4 rule, the longest path:
// three map lookups and an assignment).
func BenchmarkSteerLookup(b *testing.B) {
	s := loadUnpinned(b)
	if err := s.Sync(Desired{
		Rules:   []Rule{{Listener: "public", Destinations: prefixes("10.96.0.0/16"), Ports: []PortRange{pr(8000, 8099)}}},
		Classes: []Class{{Name: "team-a", Listener: "team-a", Sources: prefixes("192.0.2.0/24")}},
	}); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"public", "team-a"} {
		if err := s.Register(name, listenPlain(b, "tcp4", "127.0.0.1:0")); err != nil {
			b.Fatal(err)
		}
	}
	in := lookup(protoTCP, "192.0.2.9:40000", "10.96.3.4:8000")
	var out skLookup
	prog := s.coll.Programs[steerbpf.SteerProgWeirSteer]
	ret, err := prog.Run(&ebpf.RunOptions{Context: in, ContextOut: &out})
	if err != nil || ret != 1 || out.Cookie == 0 {
		b.Fatalf("run: %d %v cookie %d", ret, err, out.Cookie)
	}
	b.ResetTimer()
	// One syscall, b.N runs in the kernel: ns/op is the program's cost.
	if _, err := prog.Run(&ebpf.RunOptions{Context: in, Repeat: uint32(b.N)}); err != nil {
		b.Fatal(err)
	}
}
