package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/dataplane/verdict"
	"github.com/weir-gateway/weir/internal/privileged"
)

// lab is a gateway namespace and a client namespace joined by a veth pair.
// The client has one address per tenant; the gateway runs a TCP and a UDP
// server on 10.99.0.1.
type lab struct {
	gw, client *netnstest.NS
	gwIf       string
	tcpAddr    string
	udp        net.PacketConn
	udpAddr    *net.UDPAddr
}

const (
	labFlood  = "10.99.0.2"
	labVictim = "10.99.0.3"
	labUDP    = "10.99.0.4"
)

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{gw: netnstest.New(t, "weirgw"), client: netnstest.New(t, "weircl"), gwIf: "wgw0"}
	netnstest.Veth(t, l.gw, l.gwIf, []string{"10.99.0.1/24"}, l.client, "wcl0",
		[]string{labFlood + "/24", labVictim + "/24", labUDP + "/24"})
	err := l.gw.Do(func() error {
		ln, err := net.Listen("tcp", "10.99.0.1:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		l.tcpAddr = ln.Addr().String()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		l.udp, err = net.ListenPacket("udp", "10.99.0.1:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.udp.Close() })
		l.udpAddr = l.udp.LocalAddr().(*net.UDPAddr)
		return nil
	})
	if err != nil {
		t.Fatalf("lab servers: %v", err)
	}
	return l
}

// dial opens n TCP connections at once from address from and returns how
// many completed the handshake. The timeout stays below the first SYN
// retransmission (1s), so a refused connection is exactly one dropped SYN.
func (l *lab) dial(t *testing.T, from string, n int) (ok int, elapsed time.Duration) {
	t.Helper()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	for range n {
		wg.Go(func() {
			err := l.client.Do(func() error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 500 * time.Millisecond}
				c, err := d.Dial("tcp", l.tcpAddr)
				if err != nil {
					return err
				}
				return c.Close()
			})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok, time.Since(start)
}

// sendUDP sends n datagrams from address from and returns how many the
// server received.
func (l *lab) sendUDP(t *testing.T, from string, n int) (received int, elapsed time.Duration) {
	t.Helper()
	start := time.Now()
	err := l.client.Do(func() error {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, l.udpAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		for range n {
			if _, err := c.Write([]byte("weir")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send udp: %v", err)
	}
	elapsed = time.Since(start)
	buf := make([]byte, 64)
	for {
		l.udp.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := l.udp.ReadFrom(buf); err != nil {
			return received, elapsed
		}
		received++
	}
}

// attachedProgs lists the programs on the gateway interface's hook.
func (l *lab) attachedProgs(t *testing.T, hook Hook, legacy bool) []ebpf.ProgramID {
	t.Helper()
	var ids []ebpf.ProgramID
	err := l.gw.Do(func() error {
		nl, err := netlink.LinkByName(l.gwIf)
		if err != nil {
			return err
		}
		switch {
		case hook == HookXDP:
			if x := nl.Attrs().Xdp; x != nil && x.Attached {
				ids = append(ids, ebpf.ProgramID(x.ProgId))
			}
		case legacy:
			filters, err := netlink.FilterList(nl, netlink.HANDLE_MIN_INGRESS)
			if err != nil {
				return err
			}
			for _, f := range filters {
				if bf, ok := f.(*netlink.BpfFilter); ok {
					ids = append(ids, ebpf.ProgramID(bf.Id))
				}
			}
		default:
			res, err := link.QueryPrograms(link.QueryOptions{Target: nl.Attrs().Index, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return err
			}
			for _, p := range res.Programs {
				ids = append(ids, p.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("query attached programs: %v", err)
	}
	return ids
}

func labDesired(floodConns Rate) Desired {
	return Desired{Tenants: []Tenant{
		{Name: "flood", Sources: []Source{src(labFlood + "/32")}, Limits: Limits{Connections: floodConns}},
		{Name: "victim", Sources: []Source{src(labVictim + "/32")}},
		{Name: "udp", Sources: []Source{src(labUDP + "/32")}, Limits: Limits{Packets: rate(10, 10)}},
	}}
}

func counter(t *testing.T, g *Guard, tenant string, v verdict.Verdict) uint64 {
	t.Helper()
	sums, err := g.syncer.maps.counters.Sum()
	if err != nil {
		t.Fatal(err)
	}
	all, err := g.syncer.maps.tenants.All()
	if err != nil {
		t.Fatal(err)
	}
	for k, val := range sums {
		if k.Verdict == v && counters.Label(k.Tenant, all) == tenant {
			return val.Packets
		}
	}
	return 0
}

// TestPrivilegedGuardLab runs real traffic over a veth pair through each
// hook: limits enforced and counted exactly, a reload applied in place,
// protection across an agent restart, and a cleanup that leaves nothing.
func TestPrivilegedGuardLab(t *testing.T) {
	privileged.Require(t)
	for _, hc := range []struct {
		name   string
		hook   Hook
		legacy bool
	}{{"tcx", HookTC, false}, {"cls_bpf", HookTC, true}, {"xdp", HookXDP, false}} {
		t.Run(hc.name, func(t *testing.T) {
			l := newLab(t)
			root := testRoot(t)
			opts := Options{Root: root, Hook: hc.hook, LegacyTC: hc.legacy, Interfaces: []string{l.gwIf}, NetNS: l.gw.Path()}
			g, err := New(opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					g.Uninstall()
				}
			})
			att := g.Attachments()
			if len(att) != 1 || att[0].Reused {
				t.Fatalf("attachments %+v, want one fresh", att)
			}
			wantKind := map[string]string{"tcx": KindTCX, "cls_bpf": KindClsBPF, "xdp": KindXDPDriver}[hc.name]
			if att[0].Kind != wantKind {
				t.Errorf("kind %s, want %s", att[0].Kind, wantKind)
			}
			progs := l.attachedProgs(t, hc.hook, hc.legacy)
			if len(progs) != 1 {
				t.Fatalf("programs on %s: %v, want 1", l.gwIf, progs)
			}

			// Limits enforced, counted exactly.
			mustSync(t, g, labDesired(rate(1, 3)))
			ok, elapsed := l.dial(t, labFlood, 20)
			if bound := 3 + int(elapsed.Seconds()) + 1; ok < 1 || ok > bound {
				t.Errorf("flood: %d of 20 connections in %v, want 1..%d", ok, elapsed, bound)
			}
			if got := counter(t, g, "flood", verdict.OverConnRate); got != uint64(20-ok) {
				t.Errorf("flood over_conn_rate = %d, want %d (one dropped SYN per refused dial)", got, 20-ok)
			}
			if ok, _ := l.dial(t, labVictim, 20); ok != 20 {
				t.Errorf("victim: %d of 20 connections", ok)
			}
			got, elapsed := l.sendUDP(t, labUDP, 100)
			if bound := 10 + int(10*elapsed.Seconds()) + 1; got < 10 || got > bound {
				t.Errorf("udp: %d of 100 datagrams in %v, want 10..%d", got, elapsed, bound)
			}
			if pass, over := counter(t, g, "udp", verdict.Pass), counter(t, g, "udp", verdict.OverPacketRate); pass != uint64(got) || over != uint64(100-got) {
				t.Errorf("udp counters pass=%d over_packet_rate=%d, want %d and %d", pass, over, got, 100-got)
			}

			// Reload in place: the limit goes, the attachment stays.
			mustSync(t, g, labDesired(Rate{}))
			if ok, _ := l.dial(t, labFlood, 20); ok != 20 {
				t.Errorf("after reload, flood: %d of 20 connections", ok)
			}
			if a := g.Attachments(); a[0].LinkID != att[0].LinkID {
				t.Errorf("link id %d after reload, was %d", a[0].LinkID, att[0].LinkID)
			}
			if p := l.attachedProgs(t, hc.hook, hc.legacy); len(p) != 1 || p[0] != progs[0] {
				t.Errorf("programs after reload %v, were %v", p, progs)
			}

			// Restart: the guard keeps enforcing while no agent runs, and
			// the next agent takes over state and attachment.
			mustSync(t, g, labDesired(rate(1, 3)))
			ids, _ := g.syncer.maps.tenants.All()
			if err := g.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			closed = true
			before := counterSnapshot(t, root)
			if p := l.attachedProgs(t, hc.hook, hc.legacy); len(p) != 1 {
				t.Fatalf("programs while no agent runs: %v", p)
			}
			if ok, _ := l.dial(t, labFlood, 20); ok == 20 {
				t.Errorf("while no agent runs the flood got all 20 connections through")
			}
			g2, err := New(opts)
			if err != nil {
				t.Fatalf("New after restart: %v", err)
			}
			closed = false
			g = g2
			a2 := g2.Attachments()
			if hc.legacy {
				if !a2[0].Reused {
					t.Errorf("cls_bpf filter not taken over: %+v", a2[0])
				}
			} else if !a2[0].Reused || a2[0].LinkID != att[0].LinkID {
				t.Errorf("after restart %+v, want the pinned link %d reused", a2[0], att[0].LinkID)
			}
			if p := l.attachedProgs(t, hc.hook, hc.legacy); len(p) != 1 {
				t.Errorf("programs after restart: %v", p)
			}
			ids2, _ := g2.syncer.maps.tenants.All()
			if fmt.Sprint(ids) != fmt.Sprint(ids2) {
				t.Errorf("tenants after restart %v, were %v", ids2, ids)
			}
			after, err := g2.syncer.maps.counters.Sum()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range before {
				if after[k].Packets < v.Packets {
					t.Errorf("counter %v went back from %d to %d across the restart", k, v.Packets, after[k].Packets)
				}
			}
			floodDrops := counters.Key{Tenant: idOf(ids, "flood"), Verdict: verdict.OverConnRate}
			if after[floodDrops].Packets <= before[floodDrops].Packets {
				t.Errorf("drops while no agent ran are not counted (%d before, %d after)", before[floodDrops].Packets, after[floodDrops].Packets)
			}

			// Cleanup leaves nothing.
			if err := g2.Uninstall(); err != nil {
				t.Fatalf("Uninstall: %v", err)
			}
			closed = true
			if p := l.attachedProgs(t, hc.hook, hc.legacy); len(p) != 0 {
				t.Errorf("programs after Uninstall: %v", p)
			}
			if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pin root %s still exists: %v", root, err)
			}
		})
	}
}

func idOf(all map[tenants.ID]tenants.Tenant, name string) tenants.ID {
	for id, t := range all {
		if t.Name == name {
			return id
		}
	}
	return 0
}

// counterSnapshot reads the counters from the pins alone (no agent).
func counterSnapshot(t *testing.T, root string) map[counters.Key]counters.Value {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(root+"/weir_counters", &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := counters.New(m).Sum()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
