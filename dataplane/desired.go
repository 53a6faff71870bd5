package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weir-gateway/weir/dataplane/maps/classify"
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
	return errors.Join(errs...)
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
