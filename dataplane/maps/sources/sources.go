// Package sources is the Go side of the weir_src_conns LRU map: the
// new-connection limiter of each (tenant, source address). The guard creates
// and the kernel evicts entries; user space reads them and drops those of
// removed tenants.
package sources

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// Key is one tracked source.
type Key struct {
	Tenant tenants.ID
	Addr   netip.Addr
}

// Map is the narrow interface the data plane needs.
type Map interface {
	All() (map[Key]uint64, error)
	DeleteTenant(id tenants.ID) error
}

// BPF is Map on the kernel's weir_src_conns.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_src_conns map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

// All returns every tracked source with its GCRA tat (CLOCK_MONOTONIC ns).
func (b *BPF) All() (map[Key]uint64, error) {
	raw, err := mapcodec.All[guardbpf.GuardWeirSrcKey, guardbpf.GuardWeirSrcBucket](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[Key]uint64, len(raw))
	for k, v := range raw {
		a, err := mapcodec.DecodeAddr(k.Family, k.Addr)
		if err != nil {
			return nil, fmt.Errorf("source entry: %w", err)
		}
		out[Key{Tenant: tenants.ID(k.Tenant), Addr: a}] = v.Tat
	}
	return out, nil
}

// DeleteTenant forgets every source of tenant id.
func (b *BPF) DeleteTenant(id tenants.ID) error {
	raw, err := mapcodec.All[guardbpf.GuardWeirSrcKey, guardbpf.GuardWeirSrcBucket](b.m)
	if err != nil {
		return err
	}
	for k := range raw {
		if tenants.ID(k.Tenant) != id {
			continue
		}
		if err := mapcodec.Delete(b.m, &k); err != nil {
			return err
		}
	}
	return nil
}
