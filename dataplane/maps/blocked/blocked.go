// Package blocked is the Go side of the weir_blocked map: tenant id -> the
// CLOCK_MONOTONIC time (ns) until which the guard drops all of the tenant's
// packets. The agent writes it when a tenant keeps hammering after its L7
// budget is gone.
package blocked

import (
	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// Map is the narrow interface the data plane needs.
type Map interface {
	Put(id tenants.ID, untilMonoNs uint64) error
	Delete(id tenants.ID) error
	All() (map[tenants.ID]uint64, error)
}

// BPF is Map on the kernel's weir_blocked.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_blocked map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

// Put blocks tenant id until the monotonic deadline.
func (b *BPF) Put(id tenants.ID, untilMonoNs uint64) error {
	return mapcodec.Put(b.m, uint32(id), &guardbpf.GuardWeirBlock{UntilNs: untilMonoNs})
}

// Delete unblocks tenant id (a missing id is not an error).
func (b *BPF) Delete(id tenants.ID) error { return mapcodec.Delete(b.m, uint32(id)) }

// All returns every deadline by tenant, expired ones included.
func (b *BPF) All() (map[tenants.ID]uint64, error) {
	raw, err := mapcodec.All[uint32, guardbpf.GuardWeirBlock](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[tenants.ID]uint64, len(raw))
	for id, v := range raw {
		out[tenants.ID(id)] = v.UntilNs
	}
	return out, nil
}
