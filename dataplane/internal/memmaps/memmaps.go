// Package memmaps implements the map packages' interfaces in memory, for
// unprivileged tests of the sync logic and the collector. Each map counts
// its writes so tests can check that a sync applies only the difference, and
// can be told to fail.
package memmaps

import (
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/weir-gateway/weir/dataplane/maps/blocked"
	"github.com/weir-gateway/weir/dataplane/maps/buckets"
	"github.com/weir-gateway/weir/dataplane/maps/classify"
	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/deny"
	"github.com/weir-gateway/weir/dataplane/maps/portrules"
	"github.com/weir-gateway/weir/dataplane/maps/portsources"
	"github.com/weir-gateway/weir/dataplane/maps/sources"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// table is a map with write accounting and an injectable error.
type table[K comparable, V any] struct {
	mu      sync.Mutex
	m       map[K]V
	puts    int
	deletes int
	// Err, when set, is returned by every call.
	Err error
}

func (t *table[K, V]) put(k K, v V) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Err != nil {
		return t.Err
	}
	if t.m == nil {
		t.m = make(map[K]V)
	}
	t.m[k] = v
	t.puts++
	return nil
}

func (t *table[K, V]) del(k K) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Err != nil {
		return t.Err
	}
	if _, ok := t.m[k]; ok {
		delete(t.m, k)
		t.deletes++
	}
	return nil
}

func (t *table[K, V]) all() (map[K]V, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Err != nil {
		return nil, t.Err
	}
	return maps.Clone(t.m), nil
}

// deleteIf removes every entry whose key matches.
func (t *table[K, V]) deleteIf(match func(K) bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Err != nil {
		return t.Err
	}
	for k := range t.m {
		if match(k) {
			delete(t.m, k)
			t.deletes++
		}
	}
	return nil
}

// Writes returns how many puts and deletes changed the table so far.
func (t *table[K, V]) Writes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.puts + t.deletes
}

// SetErr makes every later call fail with err (nil heals).
func (t *table[K, V]) SetErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Err = err
}

// Tenants implements tenants.Map.
type Tenants struct {
	table[tenants.ID, tenants.Tenant]
}

func (t *Tenants) Put(id tenants.ID, v tenants.Tenant) error {
	if err := tenants.ValidateName(v.Name); err != nil {
		return err
	}
	return t.put(id, v)
}
func (t *Tenants) Delete(id tenants.ID) error                  { return t.del(id) }
func (t *Tenants) All() (map[tenants.ID]tenants.Tenant, error) { return t.all() }

// Classify implements classify.Map.
type Classify struct {
	table[classify.Key, tenants.ID]
}

func (c *Classify) Put(k classify.Key, id tenants.ID) error   { return c.put(k, id) }
func (c *Classify) Delete(k classify.Key) error               { return c.del(k) }
func (c *Classify) All() (map[classify.Key]tenants.ID, error) { return c.all() }

// Deny implements deny.Map.
type Deny struct{ table[netip.Prefix, struct{}] }

func (d *Deny) Put(p netip.Prefix) error    { return d.put(p.Masked(), struct{}{}) }
func (d *Deny) Delete(p netip.Prefix) error { return d.del(p.Masked()) }
func (d *Deny) All() ([]netip.Prefix, error) {
	m, err := d.all()
	if err != nil {
		return nil, err
	}
	return slices.SortedFunc(maps.Keys(m), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }), nil
}

// Blocked implements blocked.Map.
type Blocked struct{ table[tenants.ID, uint64] }

func (b *Blocked) Put(id tenants.ID, until uint64) error { return b.put(id, until) }
func (b *Blocked) Delete(id tenants.ID) error            { return b.del(id) }
func (b *Blocked) All() (map[tenants.ID]uint64, error)   { return b.all() }

// Buckets implements buckets.Map; Set plays the guard's part.
type Buckets struct {
	table[tenants.ID, buckets.State]
}

func (b *Buckets) Set(id tenants.ID, s buckets.State) error   { return b.put(id, s) }
func (b *Buckets) Delete(id tenants.ID) error                 { return b.del(id) }
func (b *Buckets) All() (map[tenants.ID]buckets.State, error) { return b.all() }

// Sources implements sources.Map; Set plays the guard's part.
type Sources struct{ table[sources.Key, uint64] }

func (s *Sources) Set(k sources.Key, tat uint64) error  { return s.put(k, tat) }
func (s *Sources) All() (map[sources.Key]uint64, error) { return s.all() }
func (s *Sources) DeleteTenant(id tenants.ID) error {
	return s.deleteIf(func(k sources.Key) bool { return k.Tenant == id })
}

// Counters implements counters.Map; Add plays the guard's part.
type Counters struct {
	table[counters.Key, counters.Value]
}

func (c *Counters) Add(k counters.Key, packets, bytes uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[counters.Key]counters.Value)
	}
	v := c.m[k]
	v.Packets += packets
	v.Bytes += bytes
	c.m[k] = v
}
func (c *Counters) Sum() (map[counters.Key]counters.Value, error) { return c.all() }
func (c *Counters) DeleteTenant(id tenants.ID) error {
	return c.deleteIf(func(k counters.Key) bool { return k.Tenant == id })
}

// PortRules implements portrules.Map.
type PortRules struct {
	table[portrules.Key, portrules.Rule]
}

func (p *PortRules) Put(k portrules.Key, r portrules.Rule) error { return p.put(k, r) }
func (p *PortRules) Delete(k portrules.Key) error                { return p.del(k) }
func (p *PortRules) All() (map[portrules.Key]portrules.Rule, error) {
	return p.all()
}

// PortSources implements portsources.Map; Set plays the guard's part.
type PortSources struct{ table[portsources.Key, uint64] }

func (p *PortSources) Set(k portsources.Key, tat uint64) error  { return p.put(k, tat) }
func (p *PortSources) All() (map[portsources.Key]uint64, error) { return p.all() }
func (p *PortSources) DeleteIf(match func(portsources.Key) bool) error {
	return p.deleteIf(match)
}

var (
	_ portrules.Map   = (*PortRules)(nil)
	_ portsources.Map = (*PortSources)(nil)
	_ tenants.Map     = (*Tenants)(nil)
	_ classify.Map    = (*Classify)(nil)
	_ deny.Map        = (*Deny)(nil)
	_ blocked.Map     = (*Blocked)(nil)
	_ buckets.Map     = (*Buckets)(nil)
	_ sources.Map     = (*Sources)(nil)
	_ counters.Map    = (*Counters)(nil)
)
