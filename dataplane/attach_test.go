package dataplane

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weir-gateway/weir/dataplane/verdict"
	"github.com/weir-gateway/weir/internal/privileged"
)

// foreignProg is another owner's program that passes everything.
func foreignProg(t *testing.T, typ ebpf.ProgramType, ret int32) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "other_owner", Type: typ, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestPrivilegedAttachBesideForeignTCX attaches the guard next to another
// owner's tcx program that drops everything. The guard goes first and hands
// passed packets on (TCX_NEXT), so the other program still runs: its drops
// prove it. Had the guard returned TC_ACT_OK, the connections would pass.
func TestPrivilegedAttachBesideForeignTCX(t *testing.T) {
	privileged.Require(t)
	l := newLab(t)
	// The foreign program drops ARP too: give the client a static entry.
	var gwMAC net.HardwareAddr
	err := l.gw.Do(func() error {
		nl, err := netlink.LinkByName(l.gwIf)
		gwMAC = nl.Attrs().HardwareAddr
		return err
	})
	if err == nil {
		err = l.client.Do(func() error {
			nl, err := netlink.LinkByName("wcl0")
			if err != nil {
				return err
			}
			return netlink.NeighAdd(&netlink.Neigh{LinkIndex: nl.Attrs().Index, State: netlink.NUD_PERMANENT,
				IP: net.ParseIP("10.99.0.1"), HardwareAddr: gwMAC})
		})
	}
	if err != nil {
		t.Fatalf("static neighbour: %v", err)
	}
	other := foreignProg(t, ebpf.SchedCLS, 2 /* TC_ACT_SHOT */)
	err = l.gw.Do(func() error {
		nl, err := netlink.LinkByName(l.gwIf)
		if err != nil {
			return err
		}
		fl, err := link.AttachTCX(link.TCXOptions{Interface: nl.Attrs().Index, Program: other, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		t.Cleanup(func() { fl.Close() })
		return nil
	})
	if err != nil {
		t.Fatalf("attach foreign tcx program: %v", err)
	}
	otherInfo, _ := other.Info()
	otherID, _ := otherInfo.ID()

	g, err := New(Options{Root: testRoot(t), Interfaces: []string{l.gwIf}, NetNS: l.gw.Path()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	progs := l.attachedProgs(t, HookTC, false)
	if len(progs) != 2 || progs[1] != otherID {
		t.Fatalf("tcx chain %v, want [guard %d]", progs, otherID)
	}
	mustSync(t, g, labDesired(Rate{}))
	if ok, _ := l.dial(t, labVictim, 3); ok != 0 {
		t.Errorf("%d of 3 connections passed: the foreign program behind the guard did not run", ok)
	}
	if n := counter(t, g, "victim", verdict.Pass); n < 3 {
		t.Errorf("guard passed %d packets of the victim, want the 3 SYNs at least", n)
	}
	if err := g.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if progs := l.attachedProgs(t, HookTC, false); len(progs) != 1 || progs[0] != otherID {
		t.Errorf("after Uninstall the chain is %v, want only the foreign %d", progs, otherID)
	}
}

func TestPrivilegedAttachRefusesForeignXDP(t *testing.T) {
	privileged.Require(t)
	l := newLab(t)
	other := foreignProg(t, ebpf.XDP, 2)
	err := l.gw.Do(func() error {
		nl, err := netlink.LinkByName(l.gwIf)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(nl, other.FD(), 2 /* XDP_FLAGS_SKB_MODE */)
	})
	if err != nil {
		t.Fatalf("attach foreign XDP program: %v", err)
	}
	otherInfo, _ := other.Info()
	otherID, _ := otherInfo.ID()
	opts := Options{Root: testRoot(t), Hook: HookXDP, Interfaces: []string{l.gwIf}, NetNS: l.gw.Path()}

	if g, err := New(opts); !errors.Is(err, ErrInterfaceBusy) {
		if err == nil {
			g.Uninstall()
		}
		t.Fatalf("New over a foreign XDP program: %v, want ErrInterfaceBusy", err)
	}
	if progs := l.attachedProgs(t, HookXDP, false); len(progs) != 1 || progs[0] != otherID {
		t.Fatalf("foreign program disturbed: %v", progs)
	}

	opts.ReplaceForeignXDP = true
	g, err := New(opts)
	if err != nil {
		t.Fatalf("New with ReplaceForeignXDP: %v", err)
	}
	if progs := l.attachedProgs(t, HookXDP, false); len(progs) != 1 || progs[0] == otherID {
		t.Errorf("programs %v: want the guard instead of %d", progs, otherID)
	}
	if err := g.Uninstall(); err != nil {
		t.Fatal(err)
	}
}

func TestPrivilegedAttachClsBPFSlotTaken(t *testing.T) {
	privileged.Require(t)
	l := newLab(t)
	other := foreignProg(t, ebpf.SchedCLS, -1)
	addFilter := func(prio uint16, handle uint32) error {
		return l.gw.Do(func() error {
			nl, err := netlink.LinkByName(l.gwIf)
			if err != nil {
				return err
			}
			if err := ensureClsact(nl); err != nil {
				return err
			}
			return netlink.FilterAdd(&netlink.BpfFilter{
				FilterAttrs:  netlink.FilterAttrs{LinkIndex: nl.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS, Handle: handle, Priority: prio, Protocol: unix.ETH_P_ALL},
				Fd:           other.FD(),
				Name:         "other_owner",
				DirectAction: true,
			})
		})
	}
	if err := addFilter(clsPriority, clsHandle); err != nil {
		t.Fatal(err)
	}
	opts := Options{Root: testRoot(t), LegacyTC: true, Interfaces: []string{l.gwIf}, NetNS: l.gw.Path()}
	if g, err := New(opts); !errors.Is(err, ErrInterfaceBusy) {
		if err == nil {
			g.Uninstall()
		}
		t.Fatalf("New with our cls_bpf slot taken: %v, want ErrInterfaceBusy", err)
	}

	// Another owner's filter elsewhere on the hook is left alone, and so
	// is the clsact qdisc it needs.
	l2 := newLab(t)
	l = l2
	if err := addFilter(100, 0x1); err != nil {
		t.Fatal(err)
	}
	opts.Interfaces, opts.NetNS = []string{l.gwIf}, l.gw.Path()
	g, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if progs := l.attachedProgs(t, HookTC, true); len(progs) != 2 {
		t.Errorf("filters %v, want the guard and the foreign one", progs)
	}
	if err := g.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if progs := l.attachedProgs(t, HookTC, true); len(progs) != 1 {
		t.Errorf("filters after Uninstall %v, want only the foreign one", progs)
	}
}

// TestPrivilegedIncompatiblePin pins maps that differ from this build's
// (by size, and by BTF layout at equal size) where the guard pins its own.
func TestPrivilegedIncompatiblePin(t *testing.T) {
	privileged.Require(t)
	u32 := &btf.Int{Name: "__u32", Size: 4}
	tests := []struct {
		name string
		why  string // in the error
		spec *ebpf.MapSpec
	}{
		{"value size", "ValueSize: 16 changed to 8", &ebpf.MapSpec{Name: "weir_blocked", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 4096}},
		{"btf layout", "layout changed", &ebpf.MapSpec{
			Name: "weir_blocked", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4096,
			Key: u32,
			Value: &btf.Struct{Name: "weir_block", Size: 8, Members: []btf.Member{
				{Name: "generation", Type: u32, Offset: 0}, {Name: "until_s", Type: u32, Offset: 32},
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := testRoot(t)
			if err := ensureRoot(root, func(string) {}); err != nil {
				t.Fatal(err)
			}
			m, err := ebpf.NewMap(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Pin(filepath.Join(root, "weir_blocked")); err != nil {
				t.Fatal(err)
			}
			g, err := New(Options{Root: root})
			if !errors.Is(err, ErrIncompatibleMap) || !strings.Contains(err.Error(), tt.why) {
				if err == nil {
					g.Uninstall()
				}
				t.Fatalf("New over an incompatible pin: %v, want ErrIncompatibleMap (%s)", err, tt.why)
			}
			g, err = New(Options{Root: root, ReplaceIncompatible: true})
			if err != nil {
				t.Fatalf("New with ReplaceIncompatible: %v", err)
			}
			if err := g.Uninstall(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPrivilegedPinsSurviveReload checks that a compatible pin is reused
// as is: state written by one guard is read by the next.
func TestPrivilegedPinsSurviveReload(t *testing.T) {
	privileged.Require(t)
	root := testRoot(t)
	g, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, g, labDesired(rate(5, 5)))
	want, _ := g.syncer.maps.tenants.All()
	g.Close()
	g2, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Uninstall()
	got, _ := g2.syncer.maps.tenants.All()
	if len(got) != len(want) || len(got) != 4 {
		t.Fatalf("tenants after reopen %v, want %v", got, want)
	}
	for id, tn := range want {
		if got[id] != tn {
			t.Errorf("tenant %d = %+v, want %+v", id, got[id], tn)
		}
	}
}

// TestPrivilegedRestartDetachesUnconfigured: an interface dropped from the
// configuration loses the guard at the next start instead of keeping a
// stale attachment.
func TestPrivilegedRestartDetachesUnconfigured(t *testing.T) {
	privileged.Require(t)
	l := newLab(t)
	opts := Options{Root: testRoot(t), Interfaces: []string{l.gwIf}, NetNS: l.gw.Path()}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if p := l.attachedProgs(t, HookTC, false); len(p) != 1 {
		t.Fatalf("programs after Close: %v", p)
	}
	opts.Interfaces = nil
	g, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Uninstall()
	if p := l.attachedProgs(t, HookTC, false); len(p) != 0 {
		t.Errorf("programs on the unconfigured interface: %v", p)
	}
}
