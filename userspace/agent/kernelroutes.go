package agent

import (
	"cmp"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/cidrset"
	"github.com/weir-gateway/weir/userspace/config"
)

// defaultBurstMultiplier is RouteLimits.BurstMultiplier's default, as
// package httproute applies it.
const defaultBurstMultiplier = 5

// portRules compiles the listener-wide rules the kernel guard can enforce
// for the plain routes: the kernel sees no host or path, so it can only
// carry what holds for every route reachable on a port.
//
// For each (port, protocol) that weir listens on, when every listener that
// can receive its connections (bound to the port, or steered to by
// dataplane.steer) serves routes and none serves the API (which admits every
// source):
//   - Drop is the set of sources every route refuses: the intersection over
//     the routes of deny_sources ∪ (not in allow_sources). A route that
//     answers some requests before it checks the source (redirect, app_root,
//     cors preflights, https_redirect on a plain-HTTP listener) refuses no
//     one.
//   - On TCP, when every route limits each client's request rate
//     (limits.requests_per_second / _per_minute) and none answers before
//     its limiter, SourceConnections bounds each source's new connections/s
//     by the sum of the routes' rates and bursts: a client opening
//     connections faster than that sends more requests than the routes
//     admit together (each connection carries at least one request). Not
//     the loosest route's alone: a client may spread its requests over
//     several routes, each within its own limit, and Go serves them all.
//     The exempt CIDRs of every route are exempt. UDP (HTTP/3) gets no
//     bound: a QUIC connection may open with several Initial packets.
//
// With no routes a port gets no rule: its requests get 404 from Go. Go
// keeps enforcing every route's exact rules either way.
func portRules(c *config.Config, routes []config.Route) []dataplane.PortRule {
	if len(routes) == 0 {
		return nil
	}
	type group struct {
		api, routes, plainHTTP bool
	}
	type portProto struct {
		port  uint16
		proto dataplane.Proto
	}
	groups := map[portProto]*group{}
	var order []portProto
	add := func(pp portProto, l config.Listener, bound bool) {
		g := groups[pp]
		if g == nil {
			if !bound {
				return // steered only: no listener of weir owns the port
			}
			g = &group{}
			groups[pp] = g
			order = append(order, pp)
		}
		g.api = g.api || l.Serves(config.ServeAPI)
		g.routes = g.routes || l.Serves(config.ServeRoutes)
		g.plainHTTP = g.plainHTTP || l.TLS == nil && pp.proto == dataplane.TCP
	}
	byName := map[string]config.Listener{}
	for _, l := range c.Listeners {
		byName[l.Name] = l
		port, ok := listenerPort(l.Address)
		if !ok {
			continue
		}
		add(portProto{port, dataplane.TCP}, l, true)
		if l.HTTP3 {
			add(portProto{port, dataplane.UDP}, l, true)
		}
	}
	// Steering sends TCP connections for its ports to its listeners, and
	// a steered tenant's to the tenant's listener, whatever they bind.
	steer := c.Dataplane.Steer
	for _, r := range steer.Rules {
		for _, pr := range r.Ports {
			first, last, ok := config.ParsePortRange(pr)
			if !ok {
				continue
			}
			for _, pp := range order {
				if pp.proto != dataplane.TCP || pp.port < first || pp.port > last {
					continue
				}
				add(pp, byName[r.Listener], false)
				for _, st := range steer.Tenants {
					add(pp, byName[st.Listener], false)
				}
			}
		}
	}

	var out []dataplane.PortRule
	for _, pp := range order {
		g := groups[pp]
		if g.api || !g.routes {
			continue
		}
		r := dataplane.PortRule{Port: pp.port, Proto: pp.proto}
		drop := cidrset.All()
		for _, rt := range routes {
			drop = drop.Intersect(refused(rt, g.plainHTTP))
		}
		r.Drop = drop.Prefixes()
		if pp.proto == dataplane.TCP {
			r.SourceConnections, r.Exempt = connectionBound(routes, g.plainHTTP)
		}
		if len(r.Drop) > 0 || r.SourceConnections.PerSecond > 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b dataplane.PortRule) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
	})
	return out
}

// listenerPort is the port of a listener address, or false for port 0
// (chosen at bind time) and addresses that do not parse.
func listenerPort(addr string) (uint16, bool) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint16(n), true
}

// answersFirst reports whether rt answers some requests before checking
// their source and limits (see httproute.Route.ServeHTTP): redirects,
// app_root, CORS preflights, and https_redirect on a plain-HTTP listener.
func answersFirst(rt config.Route, plainHTTP bool) bool {
	return rt.Redirect != nil || rt.AppRoot != "" || rt.CORS != nil || rt.HTTPSRedirect && plainHTTP
}

// refused is the set of sources rt answers 403 to every time: its deny
// list, and everything outside its allow list when it has one.
func refused(rt config.Route, plainHTTP bool) cidrset.Set {
	if answersFirst(rt, plainHTTP) {
		return cidrset.Set{}
	}
	deny, ok1 := parsePrefixes(rt.DenySources)
	allow, ok2 := parsePrefixes(rt.AllowSources)
	if !ok1 || !ok2 {
		return cidrset.Set{} // cannot happen after validation; refuse no one
	}
	out := cidrset.Of(deny...)
	if len(allow) > 0 {
		out = out.Union(cidrset.Of(allow...).Complement())
	}
	return out
}

// connectionBound is the per-source new connections/s bound of a port whose
// routes all limit each client's request rate (zero otherwise), and the
// sources any route exempts. Each route admits at most as many requests as
// each of its buckets; its tighter sustained rate is taken (a per-minute
// rate rounded up to whole requests per second). A client's requests to all
// routes together stay within the sum of the routes' buckets (rates and
// bursts added), so that is the bound.
func connectionBound(routes []config.Route, plainHTTP bool) (dataplane.Rate, []netip.Prefix) {
	var bound dataplane.Rate
	var exempt []netip.Prefix
	for _, rt := range routes {
		l := rt.Limits
		if l == nil || l.RequestsPerSecond <= 0 && l.RequestsPerMinute <= 0 || answersFirst(rt, plainHTTP) {
			return dataplane.Rate{}, nil
		}
		mult := uint64(cmp.Or(max(l.BurstMultiplier, 0), defaultBurstMultiplier))
		var r dataplane.Rate
		if n := uint64(l.RequestsPerSecond); n > 0 {
			r = dataplane.Rate{PerSecond: n, Burst: satMul(n, mult)}
		}
		if n := uint64(l.RequestsPerMinute); n > 0 {
			perSec := (n + 59) / 60
			if r.PerSecond == 0 || perSec < r.PerSecond {
				r = dataplane.Rate{PerSecond: perSec, Burst: satMul(n, mult)}
			}
		}
		bound.PerSecond = satAdd(bound.PerSecond, r.PerSecond)
		bound.Burst = satAdd(bound.Burst, r.Burst)
		ex, ok := parsePrefixes(l.Exempt)
		if !ok {
			return dataplane.Rate{}, nil // cannot happen after validation
		}
		exempt = append(exempt, ex...)
	}
	return bound, cidrset.Of(exempt...).Prefixes()
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func satMul(a, b uint64) uint64 {
	if b != 0 && a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}

// parsePrefixes parses validated CIDRs as package httproute does; false
// when one does not parse (the caller then sets no kernel rule).
func parsePrefixes(ss []string) ([]netip.Prefix, bool) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}
