package steer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// slots numbers listeners in order of first use, like an empty names map.
func slots() func(string) (uint32, error) {
	m := map[string]uint32{}
	return func(n string) (uint32, error) {
		if s, ok := m[n]; ok {
			return s, nil
		}
		m[n] = uint32(len(m))
		return m[n], nil
	}
}

func TestCompile(t *testing.T) {
	d := Desired{
		Rules: []Rule{
			{Listener: "a", Destinations: prefixes("10.0.0.0/24"), Ports: []PortRange{{80, 90}}},
			{Listener: "b", Destinations: prefixes("10.0.1.0/24", "fd00::/64"), Ports: []PortRange{{85, 95}}},
			{Listener: "a", Ports: []PortRange{{443, 443}}},
		},
		Classes: []Class{{Name: "team-a", Listener: "team-a", Sources: prefixes("192.0.2.0/24")}},
	}
	tb, err := compile(d, slots())
	if err != nil {
		t.Fatal(err)
	}
	// Ports 80-84 (rule 0), 85-90 (rules 0, 1), 91-95 (rule 1), 443 (rule 2).
	if got := fmt.Sprint(portRuns(tb.ports)); got != "[{80-84 1} {85-90 2} {91-95 3} {443 4}]" {
		t.Fatalf("port classes: %s", got)
	}
	want := map[string]string{
		"1 10.0.0.0/24": "rule 0 slot 0",
		"2 10.0.0.0/24": "rule 0 slot 0",
		"2 10.0.1.0/24": "rule 1 slot 1",
		"2 fd00::/64":   "rule 1 slot 1",
		"3 10.0.1.0/24": "rule 1 slot 1",
		"3 fd00::/64":   "rule 1 slot 1",
		"4 ::/0":        "rule 2 slot 0",
	}
	got := map[string]string{}
	for k, v := range tb.dst {
		got[fmt.Sprintf("%d %s", k.ID, prefixOf(k))] = fmt.Sprintf("rule %d slot %d", v[0], v[1])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("destinations:\n got %v\nwant %v", got, want)
	}
	// The class applies to every rule, with its own listener (slot 2).
	if len(tb.src) != 3 {
		t.Fatalf("source entries: %v", tb.src)
	}
	for k, v := range tb.src {
		if prefixOf(k).String() != "192.0.2.0/24" || v != 2 {
			t.Fatalf("source entry rule %d %s → %d", k.ID, prefixOf(k), v)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Desired
		err  string
	}{
		{"no ports", Desired{Rules: []Rule{{Listener: "a"}}}, "rules[0] (listener a): no ports"},
		{"conflict", Desired{Rules: []Rule{
			{Listener: "a", Destinations: prefixes("10.0.0.0/8"), Ports: []PortRange{{80, 80}}},
			{Listener: "b", Destinations: prefixes("10.0.0.0/8"), Ports: []PortRange{{70, 90}}},
		}}, "rules[0] and rules[1] both steer 10.0.0.0/8 on a shared port to different listeners (a, b)"},
		{"bad prefix", Desired{Rules: []Rule{{Listener: "a", Destinations: []netip.Prefix{{}}, Ports: []PortRange{{80, 80}}}}}, "invalid destination prefix"},
		{"class overlap", Desired{
			Rules: []Rule{{Listener: "a", Ports: []PortRange{{80, 80}}}},
			Classes: []Class{
				{Name: "x", Listener: "x", Sources: prefixes("10.0.0.0/8")},
				{Name: "y", Listener: "y", Sources: prefixes("10.0.0.0/8")},
			}}, "classes[1] (y): source 10.0.0.0/8 is already another class's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(tc.d, slots())
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("compile: %v, want %q", err, tc.err)
			}
		})
	}
}

// TestCompileSameListenerOverlap: two rules of one listener may overlap.
func TestCompileSameListenerOverlap(t *testing.T) {
	_, err := compile(Desired{Rules: []Rule{
		{Listener: "a", Destinations: prefixes("10.0.0.0/8"), Ports: []PortRange{{80, 80}}},
		{Listener: "a", Destinations: prefixes("10.0.0.0/8"), Ports: []PortRange{{80, 81}}},
	}}, slots())
	if err != nil {
		t.Fatal(err)
	}
}

func TestPrefixOfRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.0/24", "0.0.0.0/0", "::/0", "fd00::/64", "192.0.2.7/32", "2001:db8::1/128"} {
		if got := prefixOf(keyOf(7, netip.MustParsePrefix(s))).String(); got != s {
			t.Errorf("prefixOf(keyOf(%s)) = %s", s, got)
		}
	}
}
