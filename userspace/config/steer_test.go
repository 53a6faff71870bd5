package config

import (
	"fmt"
	"slices"
	"testing"
)

func TestSteerValidation(t *testing.T) {
	listeners := `[{name: public, address: ":8080"}, {name: team-a, address: "127.0.0.1:18080"}]`
	tenants := `[{name: a, keys: [{sha256: "` + digestHex("k") + `"}], sources: ["10.20.0.0/16"]}, {name: b, keys: [{sha256: "` + digestHex("l") + `"}]}]`
	tests := []struct {
		name, steer string
		want        []string
	}{
		{"ok", `{rules: [{listener: public, destinations: ["10.96.0.0/16", "fd00::/64"], ports: ["80", "8000-8099"]}], tenants: [{tenant: a, listener: team-a}]}`, nil},
		{"all addresses", `{rules: [{listener: public, ports: ["8080"]}]}`, nil},
		{"rule problems", `{rules: [{listener: nope, destinations: ["10.0.0.1"], ports: ["0", "90-80", "x", "65536"]}, {listener: public}]}`, []string{
			`dataplane.steer.rules[0].listener: "nope" is not a configured listener`,
			`dataplane.steer.rules[0].destinations[0]: "10.0.0.1" is an address, not a CIDR (did you mean "10.0.0.1/32"?)`,
			`dataplane.steer.rules[0].ports[0]: "0" is not a port (1-65535) or a range "first-last"`,
			`dataplane.steer.rules[0].ports[1]: "90-80" is not a port (1-65535) or a range "first-last"`,
			`dataplane.steer.rules[0].ports[2]: "x" is not a port (1-65535) or a range "first-last"`,
			`dataplane.steer.rules[0].ports[3]: "65536" is not a port (1-65535) or a range "first-last"`,
			`dataplane.steer.rules[1].ports: needs at least one port or range (e.g. "443", "8000-8099")`,
		}},
		{"tenant problems", `{rules: [{listener: public, ports: ["80"]}], tenants: [{tenant: zz, listener: team-a}, {tenant: b, listener: public}, {tenant: a, listener: x}, {tenant: a, listener: team-a}]}`, []string{
			`dataplane.steer.tenants[0].tenant: "zz" is not a configured tenant`,
			`dataplane.steer.tenants[1].tenant: tenant "b" has no sources: its connections cannot be told apart`,
			`dataplane.steer.tenants[2].listener: "x" is not a configured listener`,
			`dataplane.steer.tenants[3].tenant: duplicate tenant "a" (also dataplane.steer.tenants[2])`,
		}},
		{"tenants without rules", `{tenants: [{tenant: a, listener: team-a}]}`, []string{
			"dataplane.steer.tenants: need dataplane.steer.rules: a tenant listener only takes connections a rule steers",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := doc(map[string]string{"listeners": listeners, "tenants": tenants, "dataplane": `{steer: ` + tt.steer + `}`})
			if got := problemsOf(t, src, Options{}); !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\ngot  %q\nwant %q", src, got, tt.want)
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, last uint16
		ok          bool
	}{
		{"8080", 8080, 8080, true},
		{"7000-7099", 7000, 7099, true},
		{"1-65535", 1, 65535, true},
		{"80-80", 80, 80, true},
		{"0", 0, 0, false},
		{"65536", 0, 0, false},
		{"90-80", 0, 0, false},
		{"80-", 0, 0, false},
		{"-80", 0, 0, false},
		{" 80", 0, 0, false},
		{"+80", 0, 0, false},
		{"80-90-100", 0, 0, false},
		{"http", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			first, last, ok := ParsePortRange(tc.in)
			if ok != tc.ok || (ok && (first != tc.first || last != tc.last)) {
				t.Fatalf("ParsePortRange(%q) = %d, %d, %t; want %d, %d, %t", tc.in, first, last, ok, tc.first, tc.last, tc.ok)
			}
		})
	}
}

// FuzzParsePortRange: an accepted range is 1 ≤ first ≤ last and prints back
// to an equivalent range.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"80", "7000-7099", "0", "90-80", "1-65535", "+1", "-", "80-90-100"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, ok := ParsePortRange(s)
		if !ok {
			return
		}
		if first == 0 || last < first {
			t.Fatalf("ParsePortRange(%q) accepted %d-%d", s, first, last)
		}
		f2, l2, ok2 := ParsePortRange(fmt.Sprintf("%d-%d", first, last))
		if !ok2 || f2 != first || l2 != last {
			t.Fatalf("ParsePortRange(%q) = %d-%d does not round-trip", s, first, last)
		}
	})
}
