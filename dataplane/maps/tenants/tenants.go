// Package tenants is the Go side of the weir_tenants map: tenant id -> name
// and kernel limits. Id 0 is the default class (sources that match no
// tenant). The name is stored beside the limits so the id of a tenant is
// stable across reloads and restarts, and tools can print names from the
// pinned map alone.
package tenants

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/internal/mapcodec"
)

// ID identifies a tenant in the guard's maps.
type ID uint32

// Default is the id of the default class.
const Default ID = 0

// DefaultName is the name (and metric label) of the default class. The
// parentheses keep it apart from configured tenant names, which may only
// hold letters, digits, '-', '_' and '.'.
const DefaultName = "(default)"

// MaxNameLen is the longest tenant name the map holds (bytes); a name of
// exactly this length has no terminating NUL.
const MaxNameLen = len(guardbpf.GuardWeirTenant{}.Name)

// MaxEntries is the capacity of the map (WEIR_MAX_TENANTS), default included.
const MaxEntries = 4096

// Rate is one token bucket: PerSecond events per second with bursts of up
// to Burst events (0 means 1). PerSecond == 0 means unlimited.
type Rate struct {
	PerSecond uint64 `json:"per_second"`
	Burst     uint64 `json:"burst"`
}

// Limits are a tenant's kernel limits.
type Limits struct {
	Packets           Rate `json:"packets"`
	Connections       Rate `json:"connections"`
	SourceConnections Rate `json:"source_connections"`
}

// Tenant is one entry of the map.
type Tenant struct {
	Name   string `json:"name"`
	Limits Limits `json:"limits"`
}

// Map is the narrow interface the data plane needs; *BPF implements it on
// the kernel map, tests use an in-memory one.
type Map interface {
	Put(id ID, t Tenant) error
	Delete(id ID) error
	All() (map[ID]Tenant, error)
}

// BPF is Map on the kernel's weir_tenants.
type BPF struct{ m *ebpf.Map }

var _ Map = (*BPF)(nil)

// New wraps the weir_tenants map.
func New(m *ebpf.Map) *BPF { return &BPF{m: m} }

// ValidateName reports why name cannot be stored, or nil.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("tenant name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("tenant name %q is %d bytes, the kernel map holds %d", name, len(name), MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("tenant name %q contains a NUL byte", name)
	}
	return nil
}

// Encode converts t to the kernel layout.
func Encode(t Tenant) (guardbpf.GuardWeirTenant, error) {
	var v guardbpf.GuardWeirTenant
	if err := ValidateName(t.Name); err != nil {
		return v, err
	}
	for i := 0; i < len(t.Name); i++ {
		v.Name[i] = int8(t.Name[i])
	}
	v.Packets.PerSec, v.Packets.Burst = t.Limits.Packets.PerSecond, t.Limits.Packets.Burst
	v.Conns.PerSec, v.Conns.Burst = t.Limits.Connections.PerSecond, t.Limits.Connections.Burst
	v.SrcConns.PerSec, v.SrcConns.Burst = t.Limits.SourceConnections.PerSecond, t.Limits.SourceConnections.Burst
	return v, nil
}

// Decode converts the kernel layout to a Tenant.
func Decode(v guardbpf.GuardWeirTenant) Tenant {
	var b strings.Builder
	for _, c := range v.Name {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return Tenant{
		Name: b.String(),
		Limits: Limits{
			Packets:           Rate{v.Packets.PerSec, v.Packets.Burst},
			Connections:       Rate{v.Conns.PerSec, v.Conns.Burst},
			SourceConnections: Rate{v.SrcConns.PerSec, v.SrcConns.Burst},
		},
	}
}

// Put writes the tenant with id.
func (b *BPF) Put(id ID, t Tenant) error {
	v, err := Encode(t)
	if err != nil {
		return fmt.Errorf("put tenant %d: %w", id, err)
	}
	return mapcodec.Put(b.m, uint32(id), &v)
}

// Delete removes the tenant with id (a missing id is not an error).
func (b *BPF) Delete(id ID) error { return mapcodec.Delete(b.m, uint32(id)) }

// All returns every tenant by id.
func (b *BPF) All() (map[ID]Tenant, error) {
	raw, err := mapcodec.All[uint32, guardbpf.GuardWeirTenant](b.m)
	if err != nil {
		return nil, err
	}
	out := make(map[ID]Tenant, len(raw))
	for id, v := range raw {
		out[ID(id)] = Decode(v)
	}
	return out, nil
}
