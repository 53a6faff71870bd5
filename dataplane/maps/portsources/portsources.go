// Package portsources is the Go side of the weir_port_src_conns LRU map: the
// new-connection limiter of each (listener port, source address) under a
// portrules Limit entry. The guard creates and the kernel evicts entries;
// user space reads them and drops those of ports that are no longer limited.
package portsources

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/portrules"
)

// Key is one tracked source of a port.
type Key struct {
	Port  uint16
	Proto portrules.Proto
	Addr  netip.Addr
}

// Map is the narrow interface the data plane needs.
type Map interface {
	All() (map[Key]uint64, error)
	// DeleteIf forgets every source whose key matches.
	DeleteIf(match func(Key) bool) error
}

// BPF is Map on the kernel's weir_port_src_conns.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_port_src_conns map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

func decode(k guardbpf.GuardWeirPortSrcKey) (Key, error) {
	a, err := mapcodec.DecodeAddr(k.Family, k.Addr)
	if err != nil {
		return Key{}, fmt.Errorf("port source entry: %w", err)
	}
	return Key{Port: mapcodec.PortFrom16(k.Dport), Proto: portrules.Proto(k.Proto), Addr: a}, nil
}

// All returns every tracked source with its GCRA tat (CLOCK_MONOTONIC ns).
func (b *BPF) All() (map[Key]uint64, error) {
	raw, err := mapcodec.All[guardbpf.GuardWeirPortSrcKey, guardbpf.GuardWeirSrcBucket](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[Key]uint64, len(raw))
	for k, v := range raw {
		key, err := decode(k)
		if err != nil {
			return nil, err
		}
		out[key] = v.Tat
	}
	return out, nil
}

// DeleteIf forgets every source whose key matches.
func (b *BPF) DeleteIf(match func(Key) bool) error {
	raw, err := mapcodec.All[guardbpf.GuardWeirPortSrcKey, guardbpf.GuardWeirSrcBucket](b.m)
	if err != nil {
		return err
	}
	for k := range raw {
		key, err := decode(k)
		if err != nil {
			return err
		}
		if !match(key) {
			continue
		}
		if err := mapcodec.Delete(b.m, &k); err != nil {
			return err
		}
	}
	return nil
}
