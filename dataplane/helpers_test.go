package dataplane

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
	"github.com/weir-gateway/weir/dataplane/verdict"
	"github.com/weir-gateway/weir/internal/privileged"
)

// testRoot returns a fresh pin directory on bpffs and checks at cleanup
// that nothing is left in it.
func testRoot(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	root := filepath.Join(defaultBPFFS, "weir-test-"+hex.EncodeToString(b))
	t.Cleanup(func() {
		if _, err := os.Stat(root); err == nil {
			entries, _ := os.ReadDir(root)
			os.RemoveAll(root)
			if len(entries) > 0 {
				t.Errorf("pins left behind in %s: %v", root, entries)
			}
		}
	})
	return root
}

// loadTestGuard loads the guard with the test clock into a fresh pin root,
// attached nowhere; cleanup uninstalls it.
func loadTestGuard(t testing.TB) *Guard {
	t.Helper()
	privileged.Require(t)
	g, err := New(Options{Root: testRoot(t), testClock: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Uninstall(); err != nil {
			t.Errorf("Uninstall: %v", err)
		}
	})
	return g
}

// Return codes of the two programs.
const (
	tcActUnspec = 0xffffffff // TC_ACT_UNSPEC (-1)
	tcActShot   = 2
	xdpDrop     = 1
	xdpPass     = 2
)

type result struct {
	verdict verdict.Verdict
	tenant  string
	dropped bool
}

// runProg runs one packet through prog and finds its verdict from the
// counter that moved: the counters are the guard's only output, so this
// tests them too. It fails unless exactly one counter moved by one packet
// of len(packet) bytes, and the return code agrees with the verdict.
func runProg(t testing.TB, g *Guard, prog *ebpf.Program, packet []byte) result {
	t.Helper()
	before, err := g.syncer.maps.counters.Sum()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := prog.Run(&ebpf.RunOptions{Data: packet})
	if err != nil {
		t.Fatalf("prog.Run: %v", err)
	}
	after, err := g.syncer.maps.counters.Sum()
	if err != nil {
		t.Fatal(err)
	}
	var moved []counters.Key
	for k, v := range after {
		if v.Packets != before[k].Packets {
			moved = append(moved, k)
			if v.Packets-before[k].Packets != 1 || v.Bytes-before[k].Bytes != uint64(len(packet)) {
				t.Fatalf("counter %v moved by %d packets / %d bytes, want 1 / %d",
					k, v.Packets-before[k].Packets, v.Bytes-before[k].Bytes, len(packet))
			}
		}
	}
	if len(moved) != 1 {
		t.Fatalf("%d counters moved (%v), want exactly 1", len(moved), moved)
	}
	all, err := g.syncer.maps.tenants.All()
	if err != nil {
		t.Fatal(err)
	}
	r := result{verdict: moved[0].Verdict, tenant: counters.Label(moved[0].Tenant, all)}
	switch prog.Type() {
	case ebpf.XDP:
		r.dropped = ret == xdpDrop
		if ret != xdpDrop && ret != xdpPass {
			t.Fatalf("xdp returned %d", ret)
		}
	default:
		r.dropped = ret == tcActShot
		if ret != tcActShot && ret != tcActUnspec {
			t.Fatalf("tc returned %#x", ret)
		}
	}
	if r.dropped != r.verdict.Drops() {
		t.Fatalf("verdict %v but dropped=%t", r.verdict, r.dropped)
	}
	return r
}

// programs returns the tc and the XDP program of a testClock guard.
func programs(g *Guard) map[string]*ebpf.Program {
	return map[string]*ebpf.Program{
		"tc":  g.coll.Programs["weir_guard_tc"],
		"xdp": g.coll.Programs["weir_guard_xdp"],
	}
}

func mustSync(t testing.TB, g *Guard, d Desired) {
	t.Helper()
	if err := g.Sync(d); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func src(cidr string) Source { return Source{Prefix: netip.MustParsePrefix(cidr)} }

func srcPort(cidr string, port uint16) Source {
	return Source{Prefix: netip.MustParsePrefix(cidr), Port: port}
}

func rate(perSec, burst uint64) Rate { return tenants.Rate{PerSecond: perSec, Burst: burst} }

func isUnknownTenant(err error) bool { return errors.Is(err, ErrUnknownTenant) }
