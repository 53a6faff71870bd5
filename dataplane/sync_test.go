package dataplane

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/dataplane/cidrset"
	"github.com/weir-gateway/weir/dataplane/internal/memmaps"
	"github.com/weir-gateway/weir/dataplane/maps/buckets"
	"github.com/weir-gateway/weir/dataplane/maps/classify"
	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/portrules"
	"github.com/weir-gateway/weir/dataplane/maps/portsources"
	"github.com/weir-gateway/weir/dataplane/maps/sources"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
	"github.com/weir-gateway/weir/dataplane/verdict"
)

type memSet struct {
	tenants  *memmaps.Tenants
	classify *memmaps.Classify
	deny     *memmaps.Deny
	buckets  *memmaps.Buckets
	sources  *memmaps.Sources
	blocked  *memmaps.Blocked
	counters *memmaps.Counters
	ports    *memmaps.PortRules
	portSrcs *memmaps.PortSources
}

func newMemSyncer(now uint64) (*syncer, *memSet) {
	m := &memSet{&memmaps.Tenants{}, &memmaps.Classify{}, &memmaps.Deny{}, &memmaps.Buckets{}, &memmaps.Sources{}, &memmaps.Blocked{}, &memmaps.Counters{},
		&memmaps.PortRules{}, &memmaps.PortSources{}}
	s := &syncer{
		maps: mapSet{tenants: m.tenants, classify: m.classify, deny: m.deny, buckets: m.buckets, sources: m.sources, blocked: m.blocked, counters: m.counters,
			ports: m.ports, portSources: m.portSrcs},
		now: func() (uint64, error) { return now, nil },
	}
	return s, m
}

func (m *memSet) writes() int {
	return m.tenants.Writes() + m.classify.Writes() + m.deny.Writes() + m.buckets.Writes() +
		m.sources.Writes() + m.blocked.Writes() + m.counters.Writes() + m.ports.Writes() + m.portSrcs.Writes()
}

func idsByName(t *testing.T, s *syncer) map[string]tenants.ID {
	t.Helper()
	all, err := s.maps.tenants.All()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tenants.ID{}
	for id, tn := range all {
		out[tn.Name] = id
	}
	return out
}

func TestSyncAppliesOnlyTheDifference(t *testing.T) {
	s, m := newMemSyncer(0)
	d := Desired{
		Tenants: []Tenant{
			{Name: "a", Sources: []Source{src("10.1.0.0/16"), srcPort("10.1.0.0/16", 443)}, Limits: Limits{Packets: rate(100, 10)}},
			{Name: "b", Sources: []Source{src("2001:db8::/32")}},
		},
		Default: Limits{Connections: rate(5, 5)},
		Deny:    []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}
	st, err := s.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	if st.TenantsWritten != 3 || st.RulesWritten != 3 || st.DenyWritten != 1 {
		t.Errorf("first sync %+v", st)
	}
	before := m.writes()
	st, err = s.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes() != 0 || m.writes() != before {
		t.Errorf("identical sync wrote %d entries (%+v)", m.writes()-before, st)
	}

	// Change one limit, move one rule, drop the deny entry.
	d.Tenants[1].Limits.Packets = rate(7, 7)
	d.Tenants[0].Sources = d.Tenants[0].Sources[:1]
	d.Tenants[1].Sources = append(d.Tenants[1].Sources, srcPort("10.1.0.0/16", 443))
	d.Deny = nil
	st, err = s.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	want := SyncStats{TenantsWritten: 1, RulesWritten: 1, DenyRemoved: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	rules, _ := m.classify.All()
	ids := idsByName(t, s)
	if got := rules[classify.Key{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Port: 443}]; got != ids["b"] {
		t.Errorf("port rule points to %d, want b=%d", got, ids["b"])
	}
}

func TestSyncKeepsIDsAcrossReorderAndRemoval(t *testing.T) {
	s, m := newMemSyncer(0)
	mk := func(names ...string) Desired {
		var d Desired
		for i, n := range names {
			d.Tenants = append(d.Tenants, Tenant{Name: n, Sources: []Source{src(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16).String())}})
		}
		return d
	}
	if _, err := s.sync(mk("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	first := idsByName(t, s)
	if first[DefaultTenant] != tenants.Default || first["a"] == first["b"] || first["a"] == 0 {
		t.Fatalf("ids %v", first)
	}
	// b goes: its state goes with it.
	m.counters.Add(counters.Key{Tenant: first["b"], Verdict: verdict.Pass}, 5, 500)
	m.buckets.Set(first["b"], buckets.State{PacketsTAT: 1})
	m.sources.Set(sources.Key{Tenant: first["b"], Addr: netip.MustParseAddr("10.1.0.1")}, 1)
	m.blocked.Put(first["b"], 99)
	m.counters.Add(counters.Key{Tenant: first["a"], Verdict: verdict.Pass}, 1, 100)

	if _, err := s.sync(mk("c", "a", "d")); err != nil {
		t.Fatal(err)
	}
	second := idsByName(t, s)
	if second["a"] != first["a"] || second["c"] != first["c"] {
		t.Errorf("reorder changed ids: %v -> %v", first, second)
	}
	if second["d"] == first["b"] {
		t.Errorf("d reused b's id %d in the sync that removed b", first["b"])
	}
	if _, ok := second["b"]; ok {
		t.Error("b still present")
	}
	sums, _ := m.counters.Sum()
	if len(sums) != 1 {
		t.Errorf("counters after removing b: %v", sums)
	}
	if st, _ := m.buckets.All(); len(st) != 0 {
		t.Errorf("bucket state of b kept: %v", st)
	}
	if src, _ := m.sources.All(); len(src) != 0 {
		t.Errorf("sources of b kept: %v", src)
	}
	if bl, _ := m.blocked.All(); len(bl) != 0 {
		t.Errorf("block of b kept: %v", bl)
	}
	// A freed id is reused by a later sync.
	if _, err := s.sync(mk("c", "a", "d", "e")); err != nil {
		t.Fatal(err)
	}
	if third := idsByName(t, s); third["e"] != first["b"] {
		t.Errorf("e got id %d, want the freed %d", third["e"], first["b"])
	}
}

func TestSyncFailureConverges(t *testing.T) {
	s, m := newMemSyncer(0)
	d := Desired{Tenants: []Tenant{{Name: "a", Sources: []Source{src("10.1.0.0/16")}}}}
	m.classify.SetErr(errors.New("map full"))
	if _, err := s.sync(d); err == nil || !strings.Contains(err.Error(), "map full") {
		t.Fatalf("sync with a failing map: %v", err)
	}
	m.classify.SetErr(nil)
	if _, err := s.sync(d); err != nil {
		t.Fatal(err)
	}
	rules, _ := m.classify.All()
	if len(rules) != 1 {
		t.Errorf("rules after recovery: %v", rules)
	}
}

func TestSyncRejectsInvalidDesired(t *testing.T) {
	s, m := newMemSyncer(0)
	d := Desired{Tenants: []Tenant{{Name: "a"}, {Name: "a"}}}
	if _, err := s.sync(d); err == nil {
		t.Fatal("duplicate tenants accepted")
	}
	if m.writes() != 0 {
		t.Errorf("an invalid config wrote %d entries", m.writes())
	}
}

func TestDesiredValidate(t *testing.T) {
	long := strings.Repeat("x", tenants.MaxNameLen+1)
	tests := []struct {
		name string
		d    Desired
		want []string // substrings of the error; none: valid
	}{
		{"valid", Desired{Tenants: []Tenant{{Name: "a", Sources: []Source{src("10.0.0.0/8")}}}}, nil},
		{"same source twice in one tenant", Desired{Tenants: []Tenant{{Name: "a", Sources: []Source{src("10.0.0.0/8"), src("10.0.0.0/8")}}}}, nil},
		{"duplicate name", Desired{Tenants: []Tenant{{Name: "a"}, {Name: "a"}}}, []string{`tenants[1]: tenant "a" already defined at tenants[0]`}},
		{"reserved name", Desired{Tenants: []Tenant{{Name: DefaultTenant}}}, []string{"reserved"}},
		{"empty name", Desired{Tenants: []Tenant{{}}}, []string{"tenants[0]: tenant name is empty"}},
		{"long name", Desired{Tenants: []Tenant{{Name: long}}}, []string{"the kernel map holds 64"}},
		{"invalid prefix", Desired{Tenants: []Tenant{{Name: "a", Sources: []Source{{}}}}}, []string{"tenants[0].sources[0]: invalid prefix"}},
		{"shared source", Desired{Tenants: []Tenant{
			{Name: "a", Sources: []Source{src("10.0.0.0/8")}},
			{Name: "b", Sources: []Source{src("10.1.2.3/8")}},
		}}, []string{`tenants[1].sources[0]: 10.0.0.0/8 already belongs to tenant "a"`}},
		{"same cidr, different ports", Desired{Tenants: []Tenant{
			{Name: "a", Sources: []Source{srcPort("10.0.0.0/8", 443)}},
			{Name: "b", Sources: []Source{src("10.0.0.0/8")}},
		}}, nil},
		{"invalid deny", Desired{Deny: []netip.Prefix{{}}}, []string{"deny[0]: invalid prefix"}},
		{"every error", Desired{Tenants: []Tenant{{}, {Name: DefaultTenant}}}, []string{"empty", "reserved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkValidate(t, tt.d, tt.want) })
	}
}

func TestBlockTranslatesToMonotonicDeadline(t *testing.T) {
	s, m := newMemSyncer(1_000_000)
	if _, err := s.sync(Desired{Tenants: []Tenant{{Name: "a"}}}); err != nil {
		t.Fatal(err)
	}
	ids := idsByName(t, s)
	if err := s.block("a", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	bl, _ := m.blocked.All()
	got := bl[ids["a"]]
	if got <= 1_000_000+uint64(59*time.Second) || got > 1_000_000+uint64(time.Minute) {
		t.Errorf("deadline %d, want now+~1m on the monotonic clock", got)
	}
	if err := s.block(DefaultTenant, time.Now().Add(time.Second)); err != nil {
		t.Errorf("blocking the default class: %v", err)
	}
	if err := s.block("a", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if bl, _ := m.blocked.All(); len(bl) != 1 {
		t.Errorf("a still blocked after an unblock: %v", bl)
	}
	if err := s.block("zz", time.Now().Add(time.Second)); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestReport(t *testing.T) {
	const now = 10_000 * uint64(time.Second)
	s, m := newMemSyncer(now)
	if _, err := s.sync(Desired{Tenants: []Tenant{
		{Name: "a", Sources: []Source{src("10.1.0.0/16")}, Limits: Limits{Packets: rate(10, 10), SourceConnections: rate(1, 1)}},
	}}); err != nil {
		t.Fatal(err)
	}
	id := idsByName(t, s)["a"]
	m.buckets.Set(id, buckets.State{PacketsTAT: now + 5*uint64(time.Second)/10}) // 5 of 10 spent
	m.sources.Set(sources.Key{Tenant: id, Addr: netip.MustParseAddr("10.1.0.1")}, now+uint64(time.Second))
	m.sources.Set(sources.Key{Tenant: id, Addr: netip.MustParseAddr("10.1.0.2")}, now-1)
	m.blocked.Put(id, now+uint64(3*time.Second))
	m.counters.Add(counters.Key{Tenant: id, Verdict: verdict.Pass}, 7, 700)
	m.counters.Add(counters.Key{Tenant: id, Verdict: verdict.OverPacketRate}, 3, 300)
	r, err := report(s.maps, now)
	if err != nil {
		t.Fatal(err)
	}
	var a *TenantState
	for i := range r.Tenants {
		if r.Tenants[i].Name == "a" {
			a = &r.Tenants[i]
		}
	}
	if a == nil {
		t.Fatalf("tenant a missing from %+v", r.Tenants)
	}
	if a.PacketTokens == nil || *a.PacketTokens != 5 || a.ConnectionTokens != nil {
		t.Errorf("levels %v %v, want 5 packets and unlimited connections", a.PacketTokens, a.ConnectionTokens)
	}
	if a.BlockedFor != 3*time.Second || a.SourcesTracked != 2 || a.SourcesAtLimit != 1 || a.Packets != 10 || a.Dropped != 3 {
		t.Errorf("state %+v", a)
	}
	if len(r.Sources) != 1 || r.Sources[0] != (SourceRule{"10.1.0.0/16", "a"}) {
		t.Errorf("sources %+v", r.Sources)
	}
	if len(r.Counters) != 2 || r.Counters[0].Verdict != "over_packet_rate" {
		t.Errorf("counters %+v", r.Counters)
	}
}

func pfxs(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestSyncPortRules(t *testing.T) {
	s, m := newMemSyncer(0)
	d := Desired{Ports: []PortRule{
		// Everything but 10.0.0.0/8 (except 10.9.0.0/16) is dropped on tcp/8080.
		{Port: 8080, Proto: TCP, Drop: pfxs("0.0.0.0/1", "128.0.0.0/1", "::/0")},
		{Port: 8443, Proto: UDP, SourceConnections: rate(5, 25), Exempt: pfxs("10.0.0.0/8")},
	}}
	d.Ports[0].Drop = cidrsetMinus(d.Ports[0].Drop, pfxs("10.0.0.0/8"), pfxs("10.9.0.0/16"))
	st, err := s.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	all, _ := m.ports.All()
	for k, r := range all {
		v := r.Action.String()
		if r.Action == portrules.Limit {
			v += fmt.Sprintf(" %d/%d", r.SourceConnections.PerSecond, r.SourceConnections.Burst)
		}
		got[k.String()] = v
	}
	want := map[string]string{
		"tcp/8080 0.0.0.0/0":   "drop",
		"tcp/8080 10.0.0.0/8":  "pass",
		"tcp/8080 10.9.0.0/16": "drop",
		"tcp/8080 ::/0":        "drop",
		"udp/8443 0.0.0.0/0":   "limit 5/25",
		"udp/8443 10.0.0.0/8":  "pass",
		"udp/8443 ::/0":        "limit 5/25",
	}
	if !maps.Equal(got, want) {
		t.Errorf("entries\n got %v\nwant %v", got, want)
	}
	if st.PortsWritten != len(want) {
		t.Errorf("stats %+v", st)
	}

	// The kernel tracked sources of both ports; dropping the bound of
	// 8443 forgets its sources, a changed rule rewrites only its entries.
	m.portSrcs.Set(portsources.Key{Port: 8443, Proto: portrules.UDP, Addr: netip.MustParseAddr("192.0.2.1")}, 1)
	d.Ports[1].SourceConnections = Rate{}
	d.Ports[1].Drop = pfxs("192.0.2.0/24")
	st, err = s.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	if st.PortsWritten != 1 || st.PortsRemoved != 3 {
		t.Errorf("second sync %+v, want 1 written, 3 removed", st)
	}
	if left, _ := m.portSrcs.All(); len(left) != 0 {
		t.Errorf("port sources of an unlimited port kept: %v", left)
	}
	before := m.writes()
	if st, err = s.sync(d); err != nil || st.Changes() != 0 || m.writes() != before {
		t.Errorf("identical sync: %+v %v", st, err)
	}
	if _, err := s.sync(Desired{}); err != nil {
		t.Fatal(err)
	}
	if left, _ := m.ports.All(); len(left) != 0 {
		t.Errorf("port rules left after removal: %v", left)
	}
}

func cidrsetMinus(base []netip.Prefix, minus, plus []netip.Prefix) []netip.Prefix {
	return cidrset.Of(base...).Minus(cidrset.Of(minus...)).Union(cidrset.Of(plus...)).Prefixes()
}

func TestDesiredValidatePorts(t *testing.T) {
	tests := []struct {
		name string
		d    Desired
		want []string
	}{
		{"valid", Desired{Ports: []PortRule{{Port: 80, Proto: TCP, Drop: pfxs("10.0.0.0/8")}, {Port: 80, Proto: UDP}}}, nil},
		{"port 0", Desired{Ports: []PortRule{{Proto: TCP}}}, []string{"ports[0]: port 0"}},
		{"bad proto", Desired{Ports: []PortRule{{Port: 80, Proto: 1}}}, []string{"ports[0]: protocol 1 is neither tcp nor udp"}},
		{"duplicate", Desired{Ports: []PortRule{{Port: 80, Proto: TCP}, {Port: 80, Proto: TCP}}}, []string{"ports[1]: tcp/80 already has a rule at ports[0]"}},
		{"invalid drop", Desired{Ports: []PortRule{{Port: 80, Proto: TCP, Drop: []netip.Prefix{{}}}}}, []string{"ports[0].drop[0]: invalid prefix"}},
		{"invalid exempt", Desired{Ports: []PortRule{{Port: 80, Proto: TCP, Exempt: []netip.Prefix{{}}}}}, []string{"ports[0].exempt[0]: invalid prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkValidate(t, tt.d, tt.want) })
	}
}

func TestReportPorts(t *testing.T) {
	const now = 10_000 * uint64(time.Second)
	s, m := newMemSyncer(now)
	if _, err := s.sync(Desired{Ports: []PortRule{{Port: 8080, Proto: TCP, Drop: pfxs("192.0.2.0/24"), SourceConnections: rate(2, 2)}}}); err != nil {
		t.Fatal(err)
	}
	m.portSrcs.Set(portsources.Key{Port: 8080, Proto: portrules.TCP, Addr: netip.MustParseAddr("10.0.0.1")}, now+uint64(time.Second)) // 2 of 2 spent
	m.portSrcs.Set(portsources.Key{Port: 8080, Proto: portrules.TCP, Addr: netip.MustParseAddr("10.0.0.2")}, now)
	r, err := report(s.maps, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Ports) != 1 {
		t.Fatalf("ports %+v", r.Ports)
	}
	p := r.Ports[0]
	if p.Port != 8080 || p.Proto != portrules.TCP || p.SourceConnections != rate(2, 2) || p.SourcesTracked != 2 || p.SourcesAtLimit != 1 {
		t.Errorf("port report %+v", p)
	}
	var entries []string
	for _, e := range p.Entries {
		entries = append(entries, e.Source.String()+"="+e.Action.String())
	}
	if got := strings.Join(entries, " "); got != "0.0.0.0/0=limit 192.0.2.0/24=drop ::/0=limit" {
		t.Errorf("entries %s", got)
	}
}

// checkValidate fails unless d.Validate reports every substring of want
// (none: d is valid).
func checkValidate(t *testing.T, d Desired, want []string) {
	t.Helper()
	err := d.Validate()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("Validate accepted it")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
