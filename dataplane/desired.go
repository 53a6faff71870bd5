package dataplane

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/weir-gateway/weir/dataplane/cidrset"
	"github.com/weir-gateway/weir/dataplane/maps/classify"
	"github.com/weir-gateway/weir/dataplane/maps/portrules"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// Rate is one token bucket: PerSecond events per second in bursts of up to
// Burst (0 means 1); PerSecond == 0 is unlimited.
type Rate = tenants.Rate

// Limits are the kernel limits of a tenant or of the default class.
type Limits = tenants.Limits

// DefaultTenant is the name under which the default class (sources that
// match no tenant) appears in metrics, weirctl and Block.
const DefaultTenant = tenants.DefaultName

// Desired is what the guard should enforce: one compiled configuration
// snapshot. Datapath.Sync makes the kernel maps match it.
type Desired struct {
	// Tenants are classified by source; ids are assigned by the data plane
	// and kept for a name across reloads and restarts (see Datapath).
	Tenants []Tenant
	// Default are the limits of sources that match no tenant.
	Default Limits
	// Deny CIDRs are dropped whatever their tenant.
	Deny []netip.Prefix
	// Ports are listener-wide source rules, at most one per (port, proto).
	Ports []PortRule
}

// Proto is an L4 protocol of a PortRule.
type Proto = portrules.Proto

// The protocols of PortRule.
const (
	TCP = portrules.TCP
	UDP = portrules.UDP
)

// PortRule is what the guard enforces, whatever the tenant, for packets to
// one local port: the agent compiles it from the plain routes a listener
// serves (the kernel sees no hosts or paths, only what holds for every route
// on the port). The port is matched whatever the destination address.
type PortRule struct {
	Port  uint16
	Proto Proto
	// Drop are the sources whose packets to the port are dropped (verdict
	// port_denied).
	Drop []netip.Prefix
	// SourceConnections bounds each source's new connections/s to the port
	// (verdict over_port_source_rate); zero PerSecond: no bound.
	SourceConnections Rate
	// Exempt sources are not bound by SourceConnections.
	Exempt []netip.Prefix
}

// entries encodes r as weir_port_rules entries: the fewest LPM entries, with
// PASS exceptions inside wider DROP or LIMIT entries.
func (r PortRule) entries() map[portrules.Key]portrules.Rule {
	drop := cidrset.Of(r.Drop...)
	var limited cidrset.Set
	if r.SourceConnections.PerSecond > 0 {
		limited = cidrset.All().Minus(cidrset.Of(r.Exempt...))
	}
	out := make(map[portrules.Key]portrules.Rule)
	for _, e := range cidrset.Encode(drop, limited) {
		k := portrules.Key{Port: r.Port, Proto: r.Proto, Prefix: e.Prefix}
		switch e.Class {
		case 0:
			out[k] = portrules.Rule{Action: portrules.Drop}
		case 1:
			out[k] = portrules.Rule{Action: portrules.Limit, SourceConnections: r.SourceConnections}
		default:
			out[k] = portrules.Rule{Action: portrules.Pass}
		}
	}
	return out
}

// portEntries returns the weir_port_rules entries of d.
func (d Desired) portEntries() map[portrules.Key]portrules.Rule {
	out := make(map[portrules.Key]portrules.Rule)
	for _, r := range d.Ports {
		maps.Copy(out, r.entries())
	}
	return out
}

// Tenant is one tenant's kernel view.
type Tenant struct {
	Name    string
	Sources []Source
	Limits  Limits
}

// Source is a classification rule: packets from Prefix, to destination
// port Port (0: any port). A port rule wins over a port-less one.
type Source struct {
	Prefix netip.Prefix
	Port   uint16
}

// String formats the source as classify does ("10.0.0.0/8 port 443").
func (s Source) String() string { return classify.Key{Prefix: s.Prefix, Port: s.Port}.String() }

// Validate reports every problem of d (invalid prefixes, names the kernel map
// cannot hold, duplicate tenants, one source claimed by two tenants, too many
// tenants), joined, or nil.
func (d Desired) Validate() error {
	var errs []error
	names := make(map[string]int, len(d.Tenants))
	owner := make(map[classify.Key]string)
	if len(d.Tenants) > tenants.MaxEntries-1 {
		errs = append(errs, fmt.Errorf("tenants: %d tenants, the kernel map holds %d", len(d.Tenants), tenants.MaxEntries-1))
	}
	for i, t := range d.Tenants {
		path := fmt.Sprintf("tenants[%d]", i)
		if err := tenants.ValidateName(t.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
		if t.Name == DefaultTenant {
			errs = append(errs, fmt.Errorf("%s: name %q is reserved for the default class", path, t.Name))
		}
		if j, dup := names[t.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: tenant %q already defined at tenants[%d]", path, t.Name, j))
		}
		names[t.Name] = i
		for k, s := range t.Sources {
			if !s.Prefix.IsValid() {
				errs = append(errs, fmt.Errorf("%s.sources[%d]: invalid prefix", path, k))
				continue
			}
			key := classify.Key{Prefix: s.Prefix.Masked(), Port: s.Port}
			if other, dup := owner[key]; dup && other != t.Name {
				errs = append(errs, fmt.Errorf("%s.sources[%d]: %v already belongs to tenant %q", path, k, key, other))
			}
			owner[key] = t.Name
		}
	}
	for i, p := range d.Deny {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("deny[%d]: invalid prefix", i))
		}
	}
	errs = append(errs, d.validatePorts()...)
	return errors.Join(errs...)
}

func (d Desired) validatePorts() []error {
	var errs []error
	type portProto struct {
		port  uint16
		proto Proto
	}
	seen := make(map[portProto]int, len(d.Ports))
	valid := true
	for i, r := range d.Ports {
		path := fmt.Sprintf("ports[%d]", i)
		if r.Port == 0 {
			errs = append(errs, fmt.Errorf("%s: port 0", path))
		}
		if r.Proto != TCP && r.Proto != UDP {
			errs = append(errs, fmt.Errorf("%s: protocol %v is neither tcp nor udp", path, r.Proto))
		}
		if j, dup := seen[portProto{r.Port, r.Proto}]; dup {
			errs = append(errs, fmt.Errorf("%s: %v/%d already has a rule at ports[%d]", path, r.Proto, r.Port, j))
		}
		seen[portProto{r.Port, r.Proto}] = i
		for k, p := range r.Drop {
			if !p.IsValid() {
				errs = append(errs, fmt.Errorf("%s.drop[%d]: invalid prefix", path, k))
				valid = false
			}
		}
		for k, p := range r.Exempt {
			if !p.IsValid() {
				errs = append(errs, fmt.Errorf("%s.exempt[%d]: invalid prefix", path, k))
				valid = false
			}
		}
	}
	if valid {
		if n := len(d.portEntries()); n > portrules.MaxEntries {
			errs = append(errs, fmt.Errorf("ports: %d port rule entries, the kernel map holds %d", n, portrules.MaxEntries))
		}
	}
	return errs
}

// classifyRules returns the classify entries of d by tenant name.
func (d Desired) classifyRules() map[classify.Key]string {
	out := make(map[classify.Key]string)
	for _, t := range d.Tenants {
		for _, s := range t.Sources {
			out[classify.Key{Prefix: s.Prefix.Masked(), Port: s.Port}] = t.Name
		}
	}
	return out
}

// denySet returns the masked deny prefixes of d.
func (d Desired) denySet() map[netip.Prefix]bool {
	out := make(map[netip.Prefix]bool, len(d.Deny))
	for _, p := range d.Deny {
		out[p.Masked()] = true
	}
	return out
}

// TenantNames returns the names of d's tenants, sorted.
func (d Desired) TenantNames() []string {
	out := make([]string, 0, len(d.Tenants))
	for _, t := range d.Tenants {
		out = append(out, t.Name)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
