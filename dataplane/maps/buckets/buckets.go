// Package buckets is the Go side of the weir_buckets map: each tenant's
// packets/s and connections/s limiter state. The guard keeps a GCRA
// "theoretical arrival time" (tat, CLOCK_MONOTONIC ns) per bucket; Available
// turns it back into a bucket level for operators.
package buckets

import (
	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// State is a tenant's limiter state.
type State struct {
	PacketsTAT     uint64
	ConnectionsTAT uint64
}

// Map is the narrow interface the data plane needs. The guard creates
// entries; user space reads them and deletes those of removed tenants.
type Map interface {
	Delete(id tenants.ID) error
	All() (map[tenants.ID]State, error)
}

// BPF is Map on the kernel's weir_buckets.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_buckets map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

// Delete forgets tenant id's state (a missing id is not an error).
func (b *BPF) Delete(id tenants.ID) error { return mapcodec.Delete(b.m, uint32(id)) }

// All returns every tenant's state.
func (b *BPF) All() (map[tenants.ID]State, error) {
	raw, err := mapcodec.All[uint32, guardbpf.GuardWeirBucket](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[tenants.ID]State, len(raw))
	for id, v := range raw {
		out[tenants.ID(id)] = State{PacketsTAT: v.PacketsTat, ConnectionsTAT: v.ConnsTat}
	}
	return out, nil
}

const (
	nsPerSec = 1_000_000_000
	maxBurst = 0xffffffff
)

// params mirrors weir_gcra_params in bpf/lib/gcra.h.
func params(r tenants.Rate) (interval, tolerance uint64) {
	interval = 1
	if r.PerSecond < nsPerSec {
		interval = nsPerSec / r.PerSecond
	}
	burst := min(max(r.Burst, 1), maxBurst)
	return interval, interval * (burst - 1)
}

// Available returns how many events the bucket with state tat would admit at
// monotonic time now, and false when the rate is unlimited.
func Available(tat uint64, r tenants.Rate, now uint64) (uint64, bool) {
	if r.PerSecond == 0 {
		return 0, false
	}
	interval, tolerance := params(r)
	if tat <= now {
		return tolerance/interval + 1, true
	}
	debt := tat - now
	if debt > tolerance {
		return 0, true
	}
	return (tolerance-debt)/interval + 1, true
}
