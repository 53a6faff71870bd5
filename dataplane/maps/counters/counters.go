// Package counters is the Go side of the per-CPU weir_counters map: packets
// and bytes per (tenant, verdict), and the scrape-time Prometheus collector
// that exports them as weir_dataplane_packets_total{tenant,verdict} and
// weir_dataplane_bytes_total{tenant,verdict}.
package counters

import (
	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
	"github.com/weir-gateway/weir/dataplane/verdict"
)

// Key is one counter: a tenant and a verdict.
type Key struct {
	Tenant  tenants.ID
	Verdict verdict.Verdict
}

// Value is a counter summed over CPUs.
type Value struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Reader is what the collector needs.
type Reader interface {
	Sum() (map[Key]Value, error)
}

// Map is the narrow interface the data plane needs.
type Map interface {
	Reader
	DeleteTenant(id tenants.ID) error
}

// BPF is Map on the kernel's weir_counters.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_counters map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

// Sum returns every counter, summed over CPUs.
func (b *BPF) Sum() (map[Key]Value, error) {
	raw, err := mapcodec.All[guardbpf.GuardWeirCounterKey, []guardbpf.GuardWeirCounter](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[Key]Value, len(raw))
	for k, perCPU := range raw {
		var v Value
		for _, c := range perCPU {
			v.Packets += c.Packets
			v.Bytes += c.Bytes
		}
		out[Key{Tenant: tenants.ID(k.Tenant), Verdict: verdict.Verdict(k.Verdict)}] = v
	}
	return out, nil
}

// DeleteTenant removes every counter of tenant id, so a later tenant that
// gets the same id starts from zero.
func (b *BPF) DeleteTenant(id tenants.ID) error {
	for _, v := range verdict.All() {
		key := guardbpf.GuardWeirCounterKey{Tenant: uint32(id), Verdict: guardbpf.GuardWeirVerdict(v)}
		if err := mapcodec.Delete(b.m, &key); err != nil {
			return err
		}
	}
	return nil
}
