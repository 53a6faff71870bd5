package steer

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane/steer/internal/steerbpf"
)

// ListenerStats are one listener's counters, summed over CPUs.
type ListenerStats struct {
	Slot         uint32 `json:"slot"`
	Listener     string `json:"listener"`
	Socket       bool   `json:"socket"` // a socket is registered now
	Steered      uint64 `json:"steered"`
	MissNoSocket uint64 `json:"miss_no_socket"`
	MissAssign   uint64 `json:"miss_assign"`
}

// Stats reads every named listener's counters from the maps.
func (s *Steer) Stats() ([]ListenerStats, error) { return readStats(s.coll.Maps) }

func readStats(m map[string]*ebpf.Map) ([]ListenerStats, error) {
	names, stats, socks := m[steerbpf.SteerMapWeirSteerNames], m[steerbpf.SteerMapWeirSteerStats], m[steerbpf.SteerMapWeirSteerSocks]
	var out []ListenerStats
	var k uint32
	var v steerbpf.SteerWeirSteerListener
	it := names.Iterate()
	for it.Next(&k, &v) {
		out = append(out, ListenerStats{Slot: k, Listener: cString(v.Name[:])})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read listener names: %w", err)
	}
	for i := range out {
		var per []steerbpf.SteerWeirSteerStat
		if err := stats.Lookup(out[i].Slot, &per); err != nil {
			return nil, fmt.Errorf("read counters of %s: %w", out[i].Listener, err)
		}
		for _, c := range per {
			out[i].Steered += c.Steered
			out[i].MissNoSocket += c.MissNoSocket
			out[i].MissAssign += c.MissAssign
		}
		// A SOCKMAP lookup from user space yields the socket cookie.
		var cookie uint64
		err := socks.Lookup(out[i].Slot, &cookie)
		switch {
		case err == nil:
			out[i].Socket = true
		case !errors.Is(err, ebpf.ErrKeyNotExist):
			return nil, fmt.Errorf("read socket of %s: %w", out[i].Listener, err)
		}
	}
	slices.SortFunc(out, func(a, b ListenerStats) int { return int(a.Slot) - int(b.Slot) })
	return out, nil
}

var (
	steeredDesc = prometheus.NewDesc("weir_dataplane_steered_total",
		"TCP connection lookups (SYNs, retransmissions included) the kernel steered with sk_lookup to a listener's socket.", []string{"listener"}, nil)
	missDesc = prometheus.NewDesc("weir_dataplane_steer_misses_total",
		"TCP connections a steering rule chose a listener for that the kernel could not hand to it (reason no_socket: none registered; assign: the socket was refused); they fall through to the normal socket lookup.",
		[]string{"listener", "reason"}, nil)
)

// collector reads the counters at scrape time.
type collector struct {
	read    func() ([]ListenerStats, error)
	onError func(error)
}

// Collector returns the scrape-time collector of the steering counters.
// A scrape that cannot read the maps emits nothing rather than partial
// data, and tells onError (may be nil).
func (s *Steer) Collector(onError func(error)) prometheus.Collector {
	return &collector{read: s.Stats, onError: onError}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- steeredDesc
	ch <- missDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.read()
	if err != nil {
		if c.onError != nil {
			c.onError(err)
		}
		return
	}
	for _, l := range st {
		ch <- prometheus.MustNewConstMetric(steeredDesc, prometheus.CounterValue, float64(l.Steered), l.Listener)
		ch <- prometheus.MustNewConstMetric(missDesc, prometheus.CounterValue, float64(l.MissNoSocket), l.Listener, "no_socket")
		ch <- prometheus.MustNewConstMetric(missDesc, prometheus.CounterValue, float64(l.MissAssign), l.Listener, "assign")
	}
}

// Report is the steering table as read from the pinned maps (weirctl steer).
type Report struct {
	Root      string          `json:"root"`
	Listeners []ListenerStats `json:"listeners"`
	Rules     []RuleEntry     `json:"rules"`
	Classes   []ClassEntry    `json:"classes"`
	Ports     []PortEntry     `json:"ports"`
}

// RuleEntry is one (port class, destination prefix) → listener entry.
type RuleEntry struct {
	PortClass   uint32 `json:"port_class"`
	Destination string `json:"destination"`
	Rule        uint32 `json:"rule"`
	Listener    string `json:"listener"`
}

// ClassEntry is one (rule, source prefix) → listener entry.
type ClassEntry struct {
	Rule     uint32 `json:"rule"`
	Source   string `json:"source"`
	Listener string `json:"listener"`
}

// PortEntry is a run of consecutive ports of one class.
type PortEntry struct {
	Ports     string `json:"ports"`
	PortClass uint32 `json:"port_class"`
}

// Inspect reads the pinned steering maps under root without loading the
// program (for weirctl).
func Inspect(root string) (*Report, error) {
	spec, err := steerbpf.LoadSteer()
	if err != nil {
		return nil, fmt.Errorf("steer: %w", err)
	}
	m := map[string]*ebpf.Map{}
	defer func() {
		for _, mm := range m {
			mm.Close()
		}
	}()
	for name := range spec.Maps {
		mm, err := ebpf.LoadPinnedMap(root+"/"+name, &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("steer: open pinned map %s/%s: %w", root, name, classify(err))
		}
		m[name] = mm
	}
	r := &Report{Root: root}
	if r.Listeners, err = readStats(m); err != nil {
		return nil, fmt.Errorf("steer: %w", err)
	}
	nameOf := func(slot uint32) string {
		for _, l := range r.Listeners {
			if l.Slot == slot {
				return l.Listener
			}
		}
		return fmt.Sprintf("slot-%d", slot)
	}
	var k lpmKey
	var dv steerbpf.SteerWeirSteerDstVal
	it := m[steerbpf.SteerMapWeirSteerDst].Iterate()
	for it.Next(&k, &dv) {
		r.Rules = append(r.Rules, RuleEntry{PortClass: k.ID, Destination: prefixOf(k).String(), Rule: dv.Rule, Listener: nameOf(dv.Listener)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("steer: read rules: %w", err)
	}
	var sv steerbpf.SteerWeirSteerSrcVal
	it = m[steerbpf.SteerMapWeirSteerSrc].Iterate()
	for it.Next(&k, &sv) {
		r.Classes = append(r.Classes, ClassEntry{Rule: k.ID, Source: prefixOf(k).String(), Listener: nameOf(sv.Listener)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("steer: read classes: %w", err)
	}
	classes := map[uint16]uint32{}
	var p uint16
	var c uint32
	it = m[steerbpf.SteerMapWeirSteerPorts].Iterate()
	for it.Next(&p, &c) {
		classes[p] = c
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("steer: read ports: %w", err)
	}
	r.Ports = portRuns(classes)
	slices.SortFunc(r.Rules, func(a, b RuleEntry) int { return int(a.PortClass) - int(b.PortClass) })
	slices.SortFunc(r.Classes, func(a, b ClassEntry) int { return int(a.Rule) - int(b.Rule) })
	return r, nil
}

// prefixOf turns an LPM key back into a prefix (IPv4-mapped as IPv4).
func prefixOf(k lpmKey) netip.Prefix {
	a := netip.AddrFrom16(k.Addr)
	bits := int(k.Prefixlen) - 32
	if a.Is4In6() && bits >= 96 {
		return netip.PrefixFrom(a.Unmap(), bits-96)
	}
	return netip.PrefixFrom(a, bits)
}

// portRuns folds port → class into runs of consecutive ports per class.
func portRuns(classes map[uint16]uint32) []PortEntry {
	ports := make([]int, 0, len(classes))
	for p := range classes {
		ports = append(ports, int(p))
	}
	slices.Sort(ports)
	var out []PortEntry
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 && classes[uint16(ports[j+1])] == classes[uint16(ports[i])] {
			j++
		}
		out = append(out, PortEntry{Ports: PortRange{uint16(ports[i]), uint16(ports[j])}.String(), PortClass: classes[uint16(ports[i])]})
		i = j + 1
	}
	return out
}
