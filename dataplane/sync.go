package dataplane

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

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

// mapSet is the guard's maps behind their narrow interfaces, so the sync
// logic runs the same on kernel maps and on in-memory ones.
type mapSet struct {
	tenants  tenants.Map
	classify classify.Map
	deny     deny.Map
	buckets  buckets.Map
	sources  sources.Map
	blocked  blocked.Map
	counters counters.Map
	// ports and portSources are the listener-wide source rules and their
	// per-source connection limiters.
	ports       portrules.Map
	portSources portsources.Map
}

// SyncStats counts what a Sync changed.
type SyncStats struct {
	TenantsWritten, TenantsRemoved int
	RulesWritten, RulesRemoved     int
	DenyWritten, DenyRemoved       int
	PortsWritten, PortsRemoved     int
}

// Changes is the total number of map writes and deletes.
func (s SyncStats) Changes() int {
	return s.TenantsWritten + s.TenantsRemoved + s.RulesWritten + s.RulesRemoved + s.DenyWritten + s.DenyRemoved +
		s.PortsWritten + s.PortsRemoved
}

// syncer applies Desired to a mapSet and serves Block. now is the
// CLOCK_MONOTONIC reading the guard compares deadlines with.
type syncer struct {
	mu   sync.Mutex
	maps mapSet
	now  func() (uint64, error)
}

// assignIDs maps every desired tenant to an id: the id it already has in
// the kernel map, or the lowest free one.
func assignIDs(d Desired, current map[tenants.ID]tenants.Tenant) (map[string]tenants.ID, error) {
	ids := make(map[string]tenants.ID, len(d.Tenants))
	used := make(map[tenants.ID]bool, len(current))
	for id, t := range current {
		if id != tenants.Default {
			ids[t.Name] = id
		}
		used[id] = true
	}
	out := make(map[string]tenants.ID, len(d.Tenants))
	next := tenants.ID(1)
	for _, t := range d.Tenants {
		if id, ok := ids[t.Name]; ok {
			out[t.Name] = id
			continue
		}
		for used[next] {
			next++
		}
		if int(next) >= tenants.MaxEntries {
			return nil, fmt.Errorf("assign tenant id for %q: all %d ids in use", t.Name, tenants.MaxEntries-1)
		}
		used[next] = true
		out[t.Name] = next
	}
	return out, nil
}

// sync makes the maps match d. Order matters for packets in flight: limits
// of new tenants are written before the rules that send packets to them,
// stale rules are removed before the tenants they pointed to.
func (s *syncer) sync(d Desired) (SyncStats, error) {
	var st SyncStats
	if err := d.Validate(); err != nil {
		return st, fmt.Errorf("sync: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	current, err := s.maps.tenants.All()
	if err != nil {
		return st, fmt.Errorf("sync: read tenants: %w", err)
	}
	ids, err := assignIDs(d, current)
	if err != nil {
		return st, fmt.Errorf("sync: %w", err)
	}

	// 1. Tenant limits (default class included), new or changed only.
	want := map[tenants.ID]tenants.Tenant{tenants.Default: {Name: tenants.DefaultName, Limits: d.Default}}
	for _, t := range d.Tenants {
		want[ids[t.Name]] = tenants.Tenant{Name: t.Name, Limits: t.Limits}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if cur, ok := current[id]; ok && cur == want[id] {
			continue
		}
		if err := s.maps.tenants.Put(id, want[id]); err != nil {
			return st, fmt.Errorf("sync: tenant %q: %w", want[id].Name, err)
		}
		st.TenantsWritten++
	}

	// 2. Classification rules: write new and moved ones, then drop stale.
	curRules, err := s.maps.classify.All()
	if err != nil {
		return st, fmt.Errorf("sync: read classify: %w", err)
	}
	wantRules := d.classifyRules()
	for _, k := range sortedKeys(wantRules) {
		id := ids[wantRules[k]]
		if cur, ok := curRules[k]; ok && cur == id {
			continue
		}
		if err := s.maps.classify.Put(k, id); err != nil {
			return st, fmt.Errorf("sync: source %v: %w", k, err)
		}
		st.RulesWritten++
	}
	for _, k := range sortedKeys(curRules) {
		if _, ok := wantRules[k]; ok {
			continue
		}
		if err := s.maps.classify.Delete(k); err != nil {
			return st, fmt.Errorf("sync: remove source %v: %w", k, err)
		}
		st.RulesRemoved++
	}

	// 3. Deny list.
	curDeny, err := s.maps.deny.All()
	if err != nil {
		return st, fmt.Errorf("sync: read deny: %w", err)
	}
	wantDeny := d.denySet()
	for _, p := range sortedPrefixes(wantDeny) {
		if slices.Contains(curDeny, p) {
			continue
		}
		if err := s.maps.deny.Put(p); err != nil {
			return st, fmt.Errorf("sync: deny %v: %w", p, err)
		}
		st.DenyWritten++
	}
	for _, p := range curDeny {
		if wantDeny[p] {
			continue
		}
		if err := s.maps.deny.Delete(p); err != nil {
			return st, fmt.Errorf("sync: remove deny %v: %w", p, err)
		}
		st.DenyRemoved++
	}

	// 4. Listener-wide port rules. New and changed entries first, then
	// stale ones: while an exception and its wider entry change together,
	// a packet may briefly meet the old or the new rule, never a third.
	if err := s.syncPorts(d, &st); err != nil {
		return st, fmt.Errorf("sync: %w", err)
	}

	// 5. Tenants gone from the config: limits, state, block, counters.
	for _, id := range slices.Sorted(maps.Keys(current)) {
		if _, ok := want[id]; ok {
			continue
		}
		if err := s.removeTenant(id); err != nil {
			return st, fmt.Errorf("sync: remove tenant %q: %w", current[id].Name, err)
		}
		st.TenantsRemoved++
	}
	return st, nil
}

func (s *syncer) syncPorts(d Desired, st *SyncStats) error {
	cur, err := s.maps.ports.All()
	if err != nil {
		return fmt.Errorf("read port rules: %w", err)
	}
	want := d.portEntries()
	for _, k := range sortedPortKeys(want) {
		if r, ok := cur[k]; ok && r == want[k] {
			continue
		}
		if err := s.maps.ports.Put(k, want[k]); err != nil {
			return fmt.Errorf("port rule %v: %w", k, err)
		}
		st.PortsWritten++
	}
	for _, k := range sortedPortKeys(cur) {
		if _, ok := want[k]; ok {
			continue
		}
		if err := s.maps.ports.Delete(k); err != nil {
			return fmt.Errorf("remove port rule %v: %w", k, err)
		}
		st.PortsRemoved++
	}
	// Connection limiters of ports that no longer limit sources.
	type portProto struct {
		port  uint16
		proto portrules.Proto
	}
	limited := make(map[portProto]bool)
	for k, r := range want {
		if r.Action == portrules.Limit {
			limited[portProto{k.Port, k.Proto}] = true
		}
	}
	if err := s.maps.portSources.DeleteIf(func(k portsources.Key) bool { return !limited[portProto{k.Port, k.Proto}] }); err != nil {
		return fmt.Errorf("forget port sources: %w", err)
	}
	return nil
}

func (s *syncer) removeTenant(id tenants.ID) error {
	if err := s.maps.tenants.Delete(id); err != nil {
		return err
	}
	if err := s.maps.blocked.Delete(id); err != nil {
		return err
	}
	if err := s.maps.buckets.Delete(id); err != nil {
		return err
	}
	if err := s.maps.sources.DeleteTenant(id); err != nil {
		return err
	}
	return s.maps.counters.DeleteTenant(id)
}

// block writes (or, for a past time, removes) tenant's deadline. The
// wall-clock time is turned into the guard's CLOCK_MONOTONIC scale through
// the distance from now, so clock steps between agent and kernel don't
// matter.
func (s *syncer) block(tenant string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.maps.tenants.All()
	if err != nil {
		return fmt.Errorf("block %q: %w", tenant, err)
	}
	id, ok := tenants.ID(0), false
	for tid, t := range all {
		if t.Name == tenant {
			id, ok = tid, true
			break
		}
	}
	if !ok {
		return fmt.Errorf("block %q: %w", tenant, ErrUnknownTenant)
	}
	d := time.Until(until)
	if d <= 0 {
		if err := s.maps.blocked.Delete(id); err != nil {
			return fmt.Errorf("unblock %q: %w", tenant, err)
		}
		return nil
	}
	now, err := s.now()
	if err != nil {
		return fmt.Errorf("block %q: %w", tenant, err)
	}
	if err := s.maps.blocked.Put(id, now+uint64(d)); err != nil {
		return fmt.Errorf("block %q: %w", tenant, err)
	}
	return nil
}

func sortedKeys[V any](m map[classify.Key]V) []classify.Key {
	return slices.SortedFunc(maps.Keys(m), func(a, b classify.Key) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() - b.Prefix.Bits()
		}
		return int(a.Port) - int(b.Port)
	})
}

func sortedPortKeys(m map[portrules.Key]portrules.Rule) []portrules.Key {
	return slices.SortedFunc(maps.Keys(m), func(a, b portrules.Key) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		if a.Proto != b.Proto {
			return int(a.Proto) - int(b.Proto)
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
}

func sortedPrefixes(m map[netip.Prefix]bool) []netip.Prefix {
	return slices.SortedFunc(maps.Keys(m), func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
