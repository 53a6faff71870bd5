package dataplane

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/maps/buckets"
	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/portrules"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// Collector returns the scrape-time collector of the guard's counters
// (weir_dataplane_packets_total and weir_dataplane_bytes_total by tenant and
// verdict). onError (may be nil) hears about scrapes that emitted nothing.
func (g *Guard) Collector(onError func(error)) prometheus.Collector {
	return counters.NewCollector(g.syncer.maps.counters, g.syncer.maps.tenants, onError)
}

// Report is the guard's state as read from the pinned maps.
type Report struct {
	Root           string          `json:"root"`
	Tenants        []TenantState   `json:"tenants"`
	Sources        []SourceRule    `json:"sources"`
	Deny           []netip.Prefix  `json:"deny"`
	Counters       []CounterReport `json:"counters"`
	TrackedSources int             `json:"tracked_sources"`
	// Ports are the listener-wide source rules (weir_port_rules), by port.
	Ports []PortReport `json:"ports"`
	Links []LinkReport `json:"links"`
}

// PortReport is one port's listener-wide source rules: its LPM entries and
// the sources its connection bound tracks.
type PortReport struct {
	Port  uint16          `json:"port"`
	Proto portrules.Proto `json:"proto"`
	// SourceConnections is the per-source new connections/s bound of the
	// port's limit entries (zero: none).
	SourceConnections Rate        `json:"source_connections"`
	Entries           []PortEntry `json:"entries"`
	SourcesTracked    int         `json:"sources_tracked"`
	SourcesAtLimit    int         `json:"sources_at_limit"`
}

// PortEntry is one weir_port_rules entry: what happens to sources whose
// longest matching entry it is (drop, limit, or pass: an exception).
type PortEntry struct {
	Source netip.Prefix     `json:"source"`
	Action portrules.Action `json:"action"`
}

// TenantState is a tenant's limits and live bucket levels. A nil level
// means the bucket is unlimited.
type TenantState struct {
	ID               uint32        `json:"id"`
	Name             string        `json:"name"`
	Limits           Limits        `json:"limits"`
	PacketTokens     *uint64       `json:"packet_tokens,omitempty"`
	ConnectionTokens *uint64       `json:"connection_tokens,omitempty"`
	BlockedFor       time.Duration `json:"blocked_for,omitempty"`
	SourcesAtLimit   int           `json:"sources_at_limit"`
	SourcesTracked   int           `json:"sources_tracked"`
	Packets          uint64        `json:"packets"`
	Dropped          uint64        `json:"dropped"`
}

// SourceRule is one classification rule.
type SourceRule struct {
	Source string `json:"source"`
	Tenant string `json:"tenant"`
}

// CounterReport is one (tenant, verdict) counter.
type CounterReport struct {
	Tenant  string `json:"tenant"`
	Verdict string `json:"verdict"`
	counters.Value
}

// LinkReport is one pinned link.
type LinkReport struct {
	Pin       string `json:"pin"`
	Type      string `json:"type"`
	ID        uint32 `json:"id"`
	ProgramID uint32 `json:"program_id"`
	Ifindex   uint32 `json:"ifindex"`
	Interface string `json:"interface,omitempty"` // as named when attached
}

// Inspect reads the guard's pinned maps and links under root without loading
// anything, so it works while weir is stopped. Errors wrap os.ErrNotExist
// when nothing is pinned there.
func Inspect(root string) (*Report, error) {
	open := func(name string) (*ebpf.Map, error) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(root, name), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", filepath.Join(root, name), err)
		}
		return m, nil
	}
	names := []string{guardbpf.GuardMapWeirTenants, guardbpf.GuardMapWeirClassify, guardbpf.GuardMapWeirDeny,
		guardbpf.GuardMapWeirBuckets, guardbpf.GuardMapWeirSrcConns, guardbpf.GuardMapWeirBlocked, guardbpf.GuardMapWeirCounters}
	// Pinned by agents that compile listener port rules; older pins lack
	// them and report no port rules.
	optional := []string{guardbpf.GuardMapWeirPortRules, guardbpf.GuardMapWeirPortSrcConns}
	opened := make(map[string]*ebpf.Map, len(names)+len(optional))
	defer func() {
		for _, m := range opened {
			m.Close()
		}
	}()
	for _, n := range names {
		m, err := open(n)
		if err != nil {
			return nil, err
		}
		opened[n] = m
	}
	for _, n := range optional {
		m, err := open(n)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		opened[n] = m
	}
	ms := mapsOf(opened)
	if opened[guardbpf.GuardMapWeirPortRules] == nil || opened[guardbpf.GuardMapWeirPortSrcConns] == nil {
		ms.ports, ms.portSources = nil, nil
	}
	now, err := monotonicNow()
	if err != nil {
		return nil, err
	}
	r, err := report(ms, now)
	if err != nil {
		return nil, err
	}
	r.Root = root
	r.Links, err = pinnedLinks(root)
	return r, err
}

// report assembles a Report from the maps at monotonic time now.
func report(ms mapSet, now uint64) (*Report, error) {
	all, err := ms.tenants.All()
	if err != nil {
		return nil, err
	}
	state, err := ms.buckets.All()
	if err != nil {
		return nil, err
	}
	blocks, err := ms.blocked.All()
	if err != nil {
		return nil, err
	}
	srcs, err := ms.sources.All()
	if err != nil {
		return nil, err
	}
	rules, err := ms.classify.All()
	if err != nil {
		return nil, err
	}
	denied, err := ms.deny.All()
	if err != nil {
		return nil, err
	}
	sums, err := ms.counters.Sum()
	if err != nil {
		return nil, err
	}

	r := &Report{Deny: denied, TrackedSources: len(srcs)}
	byID := make(map[tenants.ID]*TenantState, len(all))
	for id, t := range all {
		ts := &TenantState{ID: uint32(id), Name: counters.Label(id, all), Limits: t.Limits}
		s := state[id]
		if n, limited := buckets.Available(s.PacketsTAT, t.Limits.Packets, now); limited {
			ts.PacketTokens = &n
		}
		if n, limited := buckets.Available(s.ConnectionsTAT, t.Limits.Connections, now); limited {
			ts.ConnectionTokens = &n
		}
		if until, ok := blocks[id]; ok && until > now {
			ts.BlockedFor = time.Duration(until - now)
		}
		byID[id] = ts
	}
	for k, tat := range srcs {
		ts, ok := byID[k.Tenant]
		if !ok {
			continue
		}
		ts.SourcesTracked++
		if n, limited := buckets.Available(tat, ts.Limits.SourceConnections, now); limited && n == 0 {
			ts.SourcesAtLimit++
		}
	}
	for k, v := range sums {
		r.Counters = append(r.Counters, CounterReport{Tenant: counters.Label(k.Tenant, all), Verdict: k.Verdict.String(), Value: v})
		if ts, ok := byID[k.Tenant]; ok {
			ts.Packets += v.Packets
			if k.Verdict.Drops() {
				ts.Dropped += v.Packets
			}
		}
	}
	for _, ts := range byID {
		r.Tenants = append(r.Tenants, *ts)
	}
	slices.SortFunc(r.Tenants, func(a, b TenantState) int { return cmp.Compare(a.ID, b.ID) })
	for _, k := range sortedKeys(rules) {
		r.Sources = append(r.Sources, SourceRule{Source: k.String(), Tenant: counters.Label(rules[k], all)})
	}
	slices.SortFunc(r.Counters, func(a, b CounterReport) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Verdict, b.Verdict))
	})
	if ms.ports != nil {
		if r.Ports, err = portReports(ms, now); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// portReports groups the port rules by (port, protocol).
func portReports(ms mapSet, now uint64) ([]PortReport, error) {
	rules, err := ms.ports.All()
	if err != nil {
		return nil, err
	}
	srcs, err := ms.portSources.All()
	if err != nil {
		return nil, err
	}
	type portProto struct {
		port  uint16
		proto portrules.Proto
	}
	by := make(map[portProto]*PortReport)
	var out []*PortReport
	for _, k := range sortedPortKeys(rules) {
		pp := portProto{k.Port, k.Proto}
		pr := by[pp]
		if pr == nil {
			pr = &PortReport{Port: k.Port, Proto: k.Proto}
			by[pp] = pr
			out = append(out, pr)
		}
		r := rules[k]
		if r.Action == portrules.Limit {
			pr.SourceConnections = r.SourceConnections
		}
		pr.Entries = append(pr.Entries, PortEntry{Source: k.Prefix, Action: r.Action})
	}
	for k, tat := range srcs {
		pr := by[portProto{k.Port, k.Proto}]
		if pr == nil {
			continue
		}
		pr.SourcesTracked++
		if n, limited := buckets.Available(tat, pr.SourceConnections, now); limited && n == 0 {
			pr.SourcesAtLimit++
		}
	}
	res := make([]PortReport, 0, len(out))
	for _, pr := range out {
		res = append(res, *pr)
	}
	return res, nil
}

func pinnedLinks(root string) ([]LinkReport, error) {
	dir := filepath.Join(root, linksDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect links: %w", err)
	}
	var out []LinkReport
	for _, e := range entries {
		pin := filepath.Join(dir, e.Name())
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			return nil, fmt.Errorf("inspect link %s: %w", pin, err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			return nil, fmt.Errorf("inspect link %s: %w", pin, err)
		}
		lr := LinkReport{Pin: pin, Type: linkType(info.Type), ID: uint32(info.ID), ProgramID: uint32(info.Program)}
		switch {
		case info.TCX() != nil:
			lr.Ifindex = info.TCX().Ifindex
		case info.XDP() != nil:
			lr.Ifindex = info.XDP().Ifindex
		}
		// The pin is named <kind>-<interface> at attach time; the link
		// may live in another network namespace than this process.
		if _, name, ok := strings.Cut(e.Name(), "-"); ok {
			lr.Interface = name
		}
		out = append(out, lr)
	}
	return out, nil
}

func linkType(t link.Type) string {
	switch t {
	case link.TCXType:
		return KindTCX
	case link.XDPType:
		return "xdp"
	}
	return fmt.Sprintf("type_%d", t)
}
