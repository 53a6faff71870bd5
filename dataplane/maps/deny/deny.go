// Package deny is the Go side of the weir_deny LPM trie: source CIDRs whose
// packets the guard drops whatever their tenant.
package deny

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
)

// Map is the narrow interface the data plane needs.
type Map interface {
	Put(p netip.Prefix) error
	Delete(p netip.Prefix) error
	All() ([]netip.Prefix, error)
}

// BPF is Map on the kernel's weir_deny.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_deny map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

func encode(p netip.Prefix) (guardbpf.GuardWeirDenyKey, error) {
	plen, fam, addr, err := mapcodec.EncodePrefix(p)
	return guardbpf.GuardWeirDenyKey{Prefixlen: plen, Family: fam, Addr: addr}, err
}

// Put adds p to the deny list.
func (b *BPF) Put(p netip.Prefix) error {
	key, err := encode(p)
	if err != nil {
		return fmt.Errorf("put deny: %w", err)
	}
	return mapcodec.Put(b.m, &key, &guardbpf.GuardWeirDeny{})
}

// Delete removes p (a missing prefix is not an error).
func (b *BPF) Delete(p netip.Prefix) error {
	key, err := encode(p)
	if err != nil {
		return fmt.Errorf("delete deny: %w", err)
	}
	return mapcodec.Delete(b.m, &key)
}

// All returns the deny list, sorted.
func (b *BPF) All() ([]netip.Prefix, error) {
	raw, err := mapcodec.All[guardbpf.GuardWeirDenyKey, guardbpf.GuardWeirDeny](b.m)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(raw))
	for k := range raw {
		p, err := mapcodec.DecodePrefix(k.Prefixlen, k.Family, k.Addr)
		if err != nil {
			return nil, fmt.Errorf("deny entry: %w", err)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out, nil
}
