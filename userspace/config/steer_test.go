package config

import (
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
