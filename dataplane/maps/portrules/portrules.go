// Package portrules is the Go side of the weir_port_rules LPM trie:
// listener-wide source rules by (destination port, L4 protocol, source CIDR).
// The agent compiles them from the plain routes a listener serves: sources
// every route there refuses are dropped, and when every route limits each
// client's request rate, each source's new connections are bounded. PASS
// entries are exceptions inside a wider DROP or LIMIT entry.
package portrules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// MaxEntries is the capacity of the map (WEIR_MAX_PORT_RULES).
const MaxEntries = 16384

// Proto is an L4 protocol number.
type Proto uint8

// The protocols weir listens on.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// String returns "tcp", "udp" or the number.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// MarshalText makes Proto print by name in JSON.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (p *Proto) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "tcp":
		*p = TCP
	case "udp":
		*p = UDP
	default:
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return fmt.Errorf("protocol %q: want tcp, udp or a number", s)
		}
		*p = Proto(n)
	}
	return nil
}

// Action is what an entry does with the sources it covers (enum
// weir_port_action).
type Action uint32

// The actions.
const (
	Pass  Action = 0 // an exception: no listener-wide rule
	Drop  Action = 1 // every packet to the port is dropped
	Limit Action = 2 // new connections are bounded per source
)

// String returns "pass", "drop" or "limit".
func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Limit:
		return "limit"
	}
	return "action_" + strconv.FormatUint(uint64(a), 10)
}

// MarshalText makes Action print by name in JSON.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (a *Action) UnmarshalText(b []byte) error {
	s := string(b)
	for _, v := range []Action{Pass, Drop, Limit} {
		if s == v.String() {
			*a = v
			return nil
		}
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "action_"), 10, 32)
	if err != nil || !strings.HasPrefix(s, "action_") {
		return fmt.Errorf("port rule action %q: want pass, drop, limit or action_<n>", s)
	}
	*a = Action(n)
	return nil
}

// Key is one entry's match: sources in Prefix sending to Port over Proto.
type Key struct {
	Port   uint16
	Proto  Proto
	Prefix netip.Prefix
}

// String formats the key as "tcp/8080 10.0.0.0/8".
func (k Key) String() string {
	return k.Proto.String() + "/" + strconv.Itoa(int(k.Port)) + " " + k.Prefix.String()
}

// Rule is one entry's value. SourceConnections is the per-source bound of
// Limit entries.
type Rule struct {
	Action            Action
	SourceConnections tenants.Rate
}

// Map is the narrow interface the data plane needs.
type Map interface {
	Put(k Key, r Rule) error
	Delete(k Key) error
	All() (map[Key]Rule, error)
}

// BPF is Map on the kernel's weir_port_rules.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_port_rules map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

func encode(k Key) (guardbpf.GuardWeirPortKey, error) {
	plen, fam, addr, err := mapcodec.EncodePrefix(k.Prefix)
	if err != nil {
		return guardbpf.GuardWeirPortKey{}, err
	}
	return guardbpf.GuardWeirPortKey{Prefixlen: plen, Dport: mapcodec.Port16(k.Port), Proto: uint8(k.Proto), Family: fam, Addr: addr}, nil
}

// Put writes the entry k.
func (b *BPF) Put(k Key, r Rule) error {
	key, err := encode(k)
	if err != nil {
		return fmt.Errorf("put port rule %v: %w", k, err)
	}
	var v guardbpf.GuardWeirPortRule
	v.Action = uint32(r.Action)
	v.SrcConns.PerSec = r.SourceConnections.PerSecond
	v.SrcConns.Burst = r.SourceConnections.Burst
	return mapcodec.Put(b.m, &key, &v)
}

// Delete removes the entry k (a missing entry is not an error).
func (b *BPF) Delete(k Key) error {
	key, err := encode(k)
	if err != nil {
		return fmt.Errorf("delete port rule %v: %w", k, err)
	}
	return mapcodec.Delete(b.m, &key)
}

// All returns every entry.
func (b *BPF) All() (map[Key]Rule, error) {
	raw, err := mapcodec.All[guardbpf.GuardWeirPortKey, guardbpf.GuardWeirPortRule](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[Key]Rule, len(raw))
	for k, v := range raw {
		p, err := mapcodec.DecodePrefix(k.Prefixlen, k.Family, k.Addr)
		if err != nil {
			return nil, fmt.Errorf("port rule entry: %w", err)
		}
		out[Key{Port: mapcodec.PortFrom16(k.Dport), Proto: Proto(k.Proto), Prefix: p}] = Rule{
			Action:            Action(v.Action),
			SourceConnections: tenants.Rate{PerSecond: v.SrcConns.PerSec, Burst: v.SrcConns.Burst},
		}
	}
	return out, nil
}
