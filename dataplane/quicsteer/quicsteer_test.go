package quicsteer

import (
	"context"
	"encoding/binary"
	"net"
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
	slot int      // when why == Steered
	why  Fallback // Steered, or the fallback the kernel counts
}

func routeCases() []routeCase {
	return []routeCase{
		{"short header slot 0", shortHeader(testGen, 0), 0, Steered},
		{"short header slot 3", shortHeader(testGen, 3), 3, Steered},
		{"v1 handshake slot 2", longHeader(2, quicV1, testGen, 2, testCIDLen), 2, Steered},
		{"v1 0-rtt slot 1", longHeader(1, quicV1, testGen, 1, testCIDLen), 1, Steered},
		{"v2 handshake slot 1", longHeader(3, quicV2, testGen, 1, testCIDLen), 1, Steered},
		{"v1 initial with our cid", longHeader(0, quicV1, testGen, 2, testCIDLen), 0, FallbackNew},
		{"v2 initial", longHeader(1, quicV2, testGen, 2, testCIDLen), 0, FallbackNew},
		{"v1 retry", longHeader(3, quicV1, testGen, 2, testCIDLen), 0, FallbackNew},
		{"version negotiation", longHeader(0, 0, testGen, 2, testCIDLen), 0, FallbackNew},
		{"unknown version", longHeader(2, 0x1a2a3a4a, testGen, 2, testCIDLen), 0, FallbackNew},
		{"short header other generation", shortHeader(testGen+1, 1), 0, FallbackForeignCID},
		{"handshake other cid length", longHeader(2, quicV1, testGen, 1, 4), 0, FallbackForeignCID},
		{"handshake other generation", longHeader(2, quicV1, testGen-1, 1, testCIDLen), 0, FallbackForeignCID},
		{"slot without socket", shortHeader(testGen, 7), 7, FallbackNoSocket},
		{"too short", packet{0x40, testGen, 1}, 0, FallbackShort},
		{"empty", packet{}, 0, FallbackShort},
	}
}

// TestRoute checks the Go mirror of the program's parse.
func TestRoute(t *testing.T) {
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			slot, why := Route(tc.pkt, testGen, testCIDLen)
			want := tc.why
			if want == FallbackNoSocket { // Route does not know the sockets
				want = Steered
			}
			if why != want || (why == Steered && slot != tc.slot) {
				t.Errorf("Route = slot %d, %v; want slot %d, %v", slot, why, tc.slot, want)
			}
		})
	}
}

func FuzzRoute(f *testing.F) {
	for _, tc := range routeCases() {
		f.Add([]byte(tc.pkt))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		slot, why := Route(b, testGen, testCIDLen)
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

// reusePortGroup binds n UDP sockets to one loopback port with SO_REUSEPORT.
func reusePortGroup(t *testing.T, n int) []*net.UDPConn {
	t.Helper()
	addr := "127.0.0.1:0"
	var socks []*net.UDPConn
	for range n {
		c, err := ListenReusePort(context.Background(), "udp4", addr)
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

// receiveAll reads every socket into one channel until cleanup.
func receiveAll(t *testing.T, socks []*net.UDPConn) <-chan received {
	ch := make(chan received, 1024)
	for i, s := range socks {
		go func() {
			buf := make([]byte, 2048)
			for {
				n, _, err := s.ReadFromUDP(buf)
				if err != nil {
					return
				}
				if n >= 4 {
					ch <- received{sock: i, tag: binary.BigEndian.Uint32(buf[n-4 : n])}
				}
			}
		}()
	}
	return ch
}

// TestPrivilegedSteering sends each table datagram from several source
// ports (so the kernel's hash alone would spread them) and checks that
// steered ones all reach their slot's socket, that no datagram is dropped,
// and that the counters agree with Route.
func TestPrivilegedSteering(t *testing.T) {
	privileged.Require(t)
	p, err := Load(Options{Generation: testGen, CIDLen: testCIDLen})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	socks := reusePortGroup(t, testSlots)
	if err := p.Attach(socks[0]); err != nil {
		t.Fatalf("attach: %v", err)
	}
	for i, s := range socks {
		if err := p.SetSocket(i, s); err != nil {
			t.Fatalf("set socket %d: %v", i, err)
		}
	}
	recv := receiveAll(t, socks)
	const clients = 8
	var senders []*net.UDPConn
	for range clients {
		c, err := net.DialUDP("udp4", nil, socks[0].LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		senders = append(senders, c)
	}
	var tag uint32
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			before, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			first := tag
			for _, c := range senders {
				tag++
				if _, err := c.Write(binary.BigEndian.AppendUint32(append([]byte(nil), tc.pkt...), tag)); err != nil {
					t.Fatal(err)
				}
			}
			seen := map[int]int{}
			timeout := time.After(5 * time.Second)
			for range clients {
				select {
				case r := <-recv:
					if r.tag <= first || r.tag > tag {
						t.Fatalf("datagram %d from an earlier case", r.tag)
					}
					seen[r.sock]++
				case <-timeout:
					t.Fatalf("datagrams dropped: got %v of %d", seen, clients)
				}
			}
			after, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if tc.why == Steered {
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
			if d := after.Fallbacks[tc.why] - before.Fallbacks[tc.why]; d != clients {
				t.Errorf("fallback %v += %d, want %d (before %v after %v)", tc.why, d, clients, before, after)
			}
		})
	}
	col := NewCollector(p, nil, func(err error) { t.Error(err) })
	if n := testutil.CollectAndCount(col, "weir_quic_packets_steered_total"); n != testSlots {
		t.Errorf("%d steered series, want %d", n, testSlots)
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
