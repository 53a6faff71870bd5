package config

import (
	"strconv"
	"strings"
)

// Steer is kernel connection steering (sk_lookup with a SOCKMAP of weir's
// listening sockets): connections to whole destination prefixes and port
// ranges land on a listener without a bind per address, and a tenant can
// have its own listener (its own accept queue). Without rules nothing is
// steered; listeners always bind with SO_REUSEPORT either way, so an
// upgrade overlaps the old and the new process.
//
//	dataplane:
//	  steer:
//	    rules:
//	      - {listener: public, destinations: ["10.96.0.0/16"], ports: ["80", "8000-8099"]}
//	    tenants:
//	      - {tenant: team-a, listener: team-a}
type Steer struct {
	Rules []SteerRule `yaml:"rules" json:"rules,omitempty"`
	// Tenants give a tenant's sources (tenants[].sources) their own
	// listener for every rule's connections.
	Tenants []SteerTenant `yaml:"tenants" json:"tenants,omitempty"`
}

// SteerRule sends TCP connections to any of Destinations (CIDRs; every
// address when empty) on any of Ports ("443" or "8000-8099") to Listener.
type SteerRule struct {
	Listener     string   `yaml:"listener" json:"listener"`
	Destinations []string `yaml:"destinations" json:"destinations,omitempty"`
	Ports        []string `yaml:"ports" json:"ports"`
}

// SteerTenant gives Tenant's connections their own Listener.
type SteerTenant struct {
	Tenant   string `yaml:"tenant" json:"tenant"`
	Listener string `yaml:"listener" json:"listener"`
}

// ParsePortRange reads "443" or "8000-8099" into an inclusive range.
func ParsePortRange(s string) (first, last uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	port := func(s string) (uint16, bool) {
		n, err := strconv.ParseUint(s, 10, 16)
		return uint16(n), err == nil && n > 0
	}
	first, ok = port(a)
	last = first
	if ok && isRange {
		last, ok = port(b)
	}
	return first, last, ok && last >= first
}

// steer checks dataplane.steer against the listeners and tenants.
func (k *checker) steer(c *Config) {
	s := c.Dataplane.Steer
	listeners := map[string]bool{}
	for _, l := range c.Listeners {
		listeners[l.Name] = true
	}
	listener := func(p, name string) {
		if !listeners[name] {
			k.add(p, "%q is not a configured listener", name)
		}
	}
	for i, r := range s.Rules {
		p := at("dataplane.steer.rules", i)
		listener(p+".listener", r.Listener)
		for j, d := range r.Destinations {
			k.cidr(at(p+".destinations", j), d)
		}
		if len(r.Ports) == 0 {
			k.add(p+".ports", "needs at least one port or range (e.g. \"443\", \"8000-8099\")")
		}
		for j, pr := range r.Ports {
			if _, _, ok := ParsePortRange(pr); !ok {
				k.add(at(p+".ports", j), "%q is not a port (1-65535) or a range \"first-last\"", pr)
			}
		}
	}
	if len(s.Tenants) > 0 && len(s.Rules) == 0 {
		k.add("dataplane.steer.tenants", "need dataplane.steer.rules: a tenant listener only takes connections a rule steers")
	}
	tenants := map[string]Tenant{}
	for _, t := range c.Tenants {
		tenants[t.Name] = t
	}
	seen := map[string]int{}
	for i, st := range s.Tenants {
		p := at("dataplane.steer.tenants", i)
		t, ok := tenants[st.Tenant]
		switch {
		case !ok:
			k.add(p+".tenant", "%q is not a configured tenant", st.Tenant)
		case len(t.Sources) == 0:
			k.add(p+".tenant", "tenant %q has no sources: its connections cannot be told apart", st.Tenant)
		}
		if j, dup := seen[st.Tenant]; dup {
			k.add(p+".tenant", "duplicate tenant %q (also dataplane.steer.tenants[%d])", st.Tenant, j)
		} else {
			seen[st.Tenant] = i
		}
		listener(p+".listener", st.Listener)
	}
}
