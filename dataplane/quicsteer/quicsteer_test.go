package quicsteer

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-gateway/weir/internal/privileged"
)

const (
	testGen    = 0x5a
	testCIDLen = 8
	testSlots  = 4
)

// packet builds QUIC-shaped payloads for the table tests.
type packet []byte

func shortHeader(gen uint8, slot int) packet {
	p := packet{0x40}
	cid := make([]byte, testCIDLen)
	CID(cid, gen, slot)
	p = append(p, cid...)
	return append(p, make([]byte, 20)...)
}

func longHeader(typ byte, version uint32, gen uint8, slot int, cidLen int) packet {
	p := packet{0xc0 | typ<<4}
	p = binary.BigEndian.AppendUint32(p, version)
	p = append(p, byte(cidLen))
	cid := make([]byte, cidLen)
	if cidLen >= MinCIDLen {
		CID(cid, gen, slot)
	}
	p = append(p, cid...)
	p = append(p, 8) // SCID length
	p = append(p, make([]byte, 8)...)
	return append(p, make([]byte, 40)...)
}

type routeCase struct {
	name string
	pkt  packet
	gen  uint8
	slot int      // gen and slot when why == Steered
	why  Fallback // what Route says
	// kernel is what the program counts in the test group (sockets at
	// testGen, slots 0..testSlots-1, no newest generation): why, except
	// CIDs without a socket, which fall back with FallbackNoSocket.
	kernel Fallback
}

func routeCases() []routeCase {
	return []routeCase{
		{"short header slot 0", shortHeader(testGen, 0), testGen, 0, Steered, Steered},
		{"short header slot 3", shortHeader(testGen, 3), testGen, 3, Steered, Steered},
		{"v1 handshake slot 2", longHeader(2, quicV1, testGen, 2, testCIDLen), testGen, 2, Steered, Steered},
		{"v1 0-rtt slot 1", longHeader(1, quicV1, testGen, 1, testCIDLen), testGen, 1, Steered, Steered},
		{"v2 handshake slot 1", longHeader(3, quicV2, testGen, 1, testCIDLen), testGen, 1, Steered, Steered},
		{"v1 initial with our cid", longHeader(0, quicV1, testGen, 2, testCIDLen), 0, 0, FallbackNew, FallbackNew},
		{"v2 initial", longHeader(1, quicV2, testGen, 2, testCIDLen), 0, 0, FallbackNew, FallbackNew},
		{"v1 retry", longHeader(3, quicV1, testGen, 2, testCIDLen), 0, 0, FallbackNew, FallbackNew},
		{"version negotiation", longHeader(0, 0, testGen, 2, testCIDLen), 0, 0, FallbackNew, FallbackNew},
		{"unknown version", longHeader(2, 0x1a2a3a4a, testGen, 2, testCIDLen), 0, 0, FallbackNew, FallbackNew},
		{"short header other generation", shortHeader(testGen+1, 1), testGen + 1, 1, Steered, FallbackNoSocket},
		{"handshake other generation", longHeader(2, quicV1, testGen-1, 1, testCIDLen), testGen - 1, 1, Steered, FallbackNoSocket},
		{"handshake other cid length", longHeader(2, quicV1, testGen, 1, 4), 0, 0, FallbackForeignCID, FallbackForeignCID},
		{"slot without socket", shortHeader(testGen, 7), testGen, 7, Steered, FallbackNoSocket},
		{"too short", packet{0x40, testGen, 1}, 0, 0, FallbackShort, FallbackShort},
		{"empty", packet{}, 0, 0, FallbackShort, FallbackShort},
	}
}

// TestRoute checks the Go mirror of the program's parse.
func TestRoute(t *testing.T) {
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			gen, slot, why := Route(tc.pkt, testCIDLen)
			if why != tc.why || (why == Steered && (slot != tc.slot || gen != tc.gen)) {
				t.Errorf("Route = gen %d slot %d %v; want gen %d slot %d %v", gen, slot, why, tc.gen, tc.slot, tc.why)
			}
		})
	}
}

func FuzzRoute(f *testing.F) {
	for _, tc := range routeCases() {
		f.Add([]byte(tc.pkt))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, slot, why := Route(b, testCIDLen)
		if why == Steered {
			if slot < 0 || slot >= MaxSlots {
				t.Fatalf("slot %d out of range", slot)
			}
			if len(b) < 1+testCIDLen {
				t.Fatalf("steered a %d-byte datagram", len(b))
			}
		}
	})
}

func TestLoadRejectsCIDLength(t *testing.T) {
	for _, n := range []int{0, 1, 21} {
		if _, err := Load(Options{CIDLen: n}); err == nil || !strings.Contains(err.Error(), "cid length") {
			t.Errorf("CIDLen %d: err = %v", n, err)
		}
	}
}

// reusePortGroup binds n UDP sockets to addr with SO_REUSEPORT.
func reusePortGroup(t *testing.T, n int, addr string) []*net.UDPConn {
	t.Helper()
	var socks []*net.UDPConn
	for range n {
		c, err := ListenReusePort(context.Background(), "udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		socks = append(socks, c)
		addr = c.LocalAddr().String()
	}
	return socks
}

type received struct {
	sock int
	tag  uint32
}

// lab is a SO_REUSEPORT group on a loopback port, a reader per socket and
// several client sockets (several source ports, so the kernel's hash alone
// would spread their datagrams).
type lab struct {
	socks   []*net.UDPConn
	recv    chan received
	senders []*net.UDPConn
	tag     uint32
}

const clients = 8

func newLab(t *testing.T, n int, addr string) *lab {
	l := &lab{socks: reusePortGroup(t, n, addr), recv: make(chan received, 1024)}
	for i, s := range l.socks {
		l.read(i, s)
	}
	for range clients {
		c, err := net.DialUDP("udp", nil, l.socks[0].LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		l.senders = append(l.senders, c)
	}
	return l
}

// join adds n sockets to the group (as a second process would), read as
// sockets len(socks)... onwards.
func (l *lab) join(t *testing.T, n int) []*net.UDPConn {
	more := reusePortGroup(t, n, l.socks[0].LocalAddr().String())
	for _, s := range more {
		l.read(len(l.socks), s)
		l.socks = append(l.socks, s)
	}
	return more
}

func (l *lab) read(i int, s *net.UDPConn) {
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := s.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				l.recv <- received{sock: i, tag: binary.BigEndian.Uint32(buf[n-4 : n])}
			}
		}
	}()
}

// send sends pkt (tagged) from every client and returns how many each
// socket received; a datagram not received within 5s fails the test.
func (l *lab) send(t *testing.T, pkt packet) map[int]int {
	t.Helper()
	first := l.tag
	for _, c := range l.senders {
		l.tag++
		if _, err := c.Write(binary.BigEndian.AppendUint32(append([]byte(nil), pkt...), l.tag)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]int{}
	timeout := time.After(5 * time.Second)
	for range clients {
		select {
		case r := <-l.recv:
			if r.tag <= first || r.tag > l.tag {
				t.Fatalf("datagram %d from an earlier send", r.tag)
			}
			seen[r.sock]++
		case <-timeout:
			t.Fatalf("datagrams dropped: got %v of %d", seen, clients)
		}
	}
	return seen
}

// TestPrivilegedSteering sends each table datagram from several source
// ports and checks that steered ones all reach their slot's socket, that
// no datagram is dropped, and that the counters agree with Route, over
// IPv4 and IPv6.
func TestPrivilegedSteering(t *testing.T) {
	privileged.Require(t)
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) { testSteering(t, addr) })
	}
}

func testSteering(t *testing.T, addr string) {
	p, err := Load(Options{CIDLen: testCIDLen})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	l := newLab(t, testSlots, addr)
	if err := p.Attach(l.socks[0]); err != nil {
		t.Fatalf("attach: %v", err)
	}
	for i, s := range l.socks {
		if err := p.SetSocket(testGen, i, s); err != nil {
			t.Fatalf("set socket %d: %v", i, err)
		}
	}
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			before, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			seen := l.send(t, tc.pkt)
			after, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if tc.kernel == Steered {
				if seen[tc.slot] != clients {
					t.Errorf("received by socket %v, want all %d on slot %d", seen, clients, tc.slot)
				}
				if d := after.Steered[tc.slot] - before.Steered[tc.slot]; d != clients {
					t.Errorf("steered counter of slot %d += %d, want %d", tc.slot, d, clients)
				}
				return
			}
			// Short datagrams still carry the 4-byte tag, so a tagged
			// "empty" one is 4 bytes: short for the program as well.
			if d := after.Fallbacks[tc.kernel] - before.Fallbacks[tc.kernel]; d != clients {
				t.Errorf("fallback %v += %d, want %d (before %v after %v)", tc.kernel, d, clients, before, after)
			}
		})
	}
	t.Run("new connections go to the newest generation", func(t *testing.T) {
		if err := p.SetNewest(testGen, 2); err != nil {
			t.Fatal(err)
		}
		seen := l.send(t, longHeader(0, quicV1, 1, 2, testCIDLen))
		if seen[0]+seen[1] != clients {
			t.Errorf("initials received by %v, want only slots 0 and 1 of the newest generation", seen)
		}
	})
	col := NewCollector(p, nil, func(err error) { t.Error(err) })
	if n := testutil.CollectAndCount(col, "weir_quic_packets_steered_total"); n != testSlots {
		t.Errorf("%d steered series, want %d", n, testSlots)
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// testPinDir is a fresh pin directory on the bpffs, removed at cleanup.
func testPinDir(t *testing.T) string {
	dir := filepath.Join("/sys/fs/bpf", "weir-quicsteer-test-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	t.Cleanup(func() {
		os.RemoveAll(dir)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("pin dir %s left behind: %v", dir, err)
		}
	})
	return dir
}

// TestPrivilegedUpgradeHandoff plays an upgrade: process A serves the port
// with 2 sockets; process B joins the group with its own program (which
// replaces A's) and generation, on the same pinned maps. A's connections
// keep reaching A's sockets, B's reach B's, new connections go only to B,
// and once A has closed, its leftovers fall back to the hash instead of
// being dropped.
func TestPrivilegedUpgradeHandoff(t *testing.T) {
	privileged.Require(t)
	dir := testPinDir(t)
	start := func(socks []*net.UDPConn) (*Program, uint8) {
		p, err := Load(Options{CIDLen: testCIDLen, PinDir: dir})
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		t.Cleanup(func() { p.Unpin(); p.Close() })
		gen, err := p.FreeGeneration()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Attach(socks[0]); err != nil {
			t.Fatal(err)
		}
		for i, s := range socks {
			if err := p.SetSocket(gen, i, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.SetNewest(gen, len(socks)); err != nil {
			t.Fatal(err)
		}
		return p, gen
	}
	l := newLab(t, 2, "127.0.0.1:0")
	pa, genA := start(l.socks)
	before := l.send(t, shortHeader(genA, 1))
	if before[1] != clients {
		t.Fatalf("A alone: slot 1 datagrams received by %v", before)
	}
	bSocks := l.join(t, 2) // sockets 2 and 3
	pb, genB := start(bSocks)
	if genA == genB {
		t.Fatalf("B picked A's generation %d", genA)
	}
	if !pa.Pinned() || !pb.Pinned() {
		t.Fatal("maps not pinned")
	}
	for _, tc := range []struct {
		name string
		pkt  packet
		want func(map[int]int) bool
	}{
		{"A's connection, slot 1", shortHeader(genA, 1), func(m map[int]int) bool { return m[1] == clients }},
		{"A's handshake, slot 0", longHeader(2, quicV1, genA, 0, testCIDLen), func(m map[int]int) bool { return m[0] == clients }},
		{"B's connection, slot 0", shortHeader(genB, 0), func(m map[int]int) bool { return m[2] == clients }},
		{"B's connection, slot 1", shortHeader(genB, 1), func(m map[int]int) bool { return m[3] == clients }},
		{"new connections", longHeader(0, quicV1, 9, 9, testCIDLen), func(m map[int]int) bool { return m[2]+m[3] == clients }},
	} {
		if seen := l.send(t, tc.pkt); !tc.want(seen) {
			t.Errorf("%s: received by sockets %v", tc.name, seen)
		}
	}
	// A exits: its sockets leave the map; its CIDs fall back to the hash,
	// now over B's sockets only.
	l.socks[0].Close()
	l.socks[1].Close()
	fb, err := pb.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if seen := l.send(t, shortHeader(genA, 1)); seen[2]+seen[3] != clients {
		t.Errorf("A gone: its datagrams received by %v", seen)
	}
	after, err := pb.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Fallbacks[FallbackNoSocket] - fb.Fallbacks[FallbackNoSocket]; d != clients {
		t.Errorf("no-socket fallbacks += %d, want %d", d, clients)
	}
}

func TestPinDir(t *testing.T) {
	for _, tc := range []struct {
		addr *net.UDPAddr
		want string
	}{
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, "/r/127_0_0_1_8443"},
		{&net.UDPAddr{Port: 443}, "/r/any_443"},
		{&net.UDPAddr{IP: net.IPv6unspecified, Port: 443}, "/r/any_443"},
		{&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"}, "/r/fe80__1_443"},
	} {
		if got := PinDir("/r", tc.addr); got != tc.want || strings.Contains(filepath.Base(got), ".") {
			t.Errorf("PinDir(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// BenchmarkRoute is the user-space cost per datagram of checking where it
// belongs (the worker sockets do it for their owned/misrouted counters).
func BenchmarkRoute(b *testing.B) {
	pkt := shortHeader(testGen, 3)
	for b.Loop() {
		if _, slot, why := Route(pkt, testCIDLen); why != Steered || slot != 3 {
			b.Fatal("not steered")
		}
	}
}
