// Package classify is the Go side of the weir_classify LPM trie: source CIDR
// (optionally with a destination port) -> tenant id. The guard looks up the
// packet's (port, source) first, then (any port, source); a miss is the
// default class.
package classify

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// Key is one classification rule: packets from Prefix (to destination Port,
// or any port when Port is 0).
type Key struct {
	Prefix netip.Prefix
	Port   uint16
}

// String formats the key as "10.0.0.0/8" or "10.0.0.0/8 port 443".
func (k Key) String() string {
	if k.Port == 0 {
		return k.Prefix.String()
	}
	return k.Prefix.String() + " port " + strconv.Itoa(int(k.Port))
}

// Map is the narrow interface the data plane needs.
type Map interface {
	Put(k Key, id tenants.ID) error
	Delete(k Key) error
	All() (map[Key]tenants.ID, error)
}

// BPF is Map on the kernel's weir_classify.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_classify map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

// Encode converts k to the kernel key.
func Encode(k Key) (guardbpf.GuardWeirClassKey, error) {
	plen, fam, addr, err := mapcodec.EncodePrefix(k.Prefix)
	if err != nil {
		return guardbpf.GuardWeirClassKey{}, err
	}
	return guardbpf.GuardWeirClassKey{Prefixlen: plen, Dport: mapcodec.Port16(k.Port), Family: fam, Addr: addr}, nil
}

// Decode converts a kernel key to a Key.
func Decode(k guardbpf.GuardWeirClassKey) (Key, error) {
	p, err := mapcodec.DecodePrefix(k.Prefixlen, k.Family, k.Addr)
	if err != nil {
		return Key{}, err
	}
	return Key{Prefix: p, Port: mapcodec.PortFrom16(k.Dport)}, nil
}

// Put maps k to tenant id.
func (b *BPF) Put(k Key, id tenants.ID) error {
	key, err := Encode(k)
	if err != nil {
		return fmt.Errorf("put classify %v: %w", k, err)
	}
	return mapcodec.Put(b.m, &key, &guardbpf.GuardWeirClass{Tenant: uint32(id)})
}

// Delete removes the rule k (a missing rule is not an error).
func (b *BPF) Delete(k Key) error {
	key, err := Encode(k)
	if err != nil {
		return fmt.Errorf("delete classify %v: %w", k, err)
	}
	return mapcodec.Delete(b.m, &key)
}

// All returns every rule.
func (b *BPF) All() (map[Key]tenants.ID, error) {
	raw, err := mapcodec.All[guardbpf.GuardWeirClassKey, guardbpf.GuardWeirClass](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[Key]tenants.ID, len(raw))
	for k, v := range raw {
		key, err := Decode(k)
		if err != nil {
			return nil, fmt.Errorf("classify entry: %w", err)
		}
		out[key] = tenants.ID(v.Tenant)
	}
	return out, nil
}
