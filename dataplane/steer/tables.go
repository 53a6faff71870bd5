// Package steer is the Go side of bpf/steer.c: TCP connection steering with
// an sk_lookup program on the network namespace and a SOCKMAP of weir's
// listening sockets. Rules send destination prefixes × port ranges to a
// listener; tenant classes send a rule's connections from given source
// prefixes to their own listener (their own accept queue). An upgrade is a
// new process registering its socket in the listener's slot.
//
// Lifecycle: New (probe, load, pin maps under the root, attach or take over
// the pinned netns link) → Sync(Desired) on every config → Register each
// listening socket → Close (the pinned link and maps keep steering for the
// next process; a closed socket leaves the SOCKMAP by itself) or Uninstall.
package steer

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// MaxListeners is the number of listener slots (the SOCKMAP size in steer.c).
const MaxListeners = 256

// maxNameLen is the room for a listener name in weir_steer_names.
const maxNameLen = 63

// PortRange is an inclusive range of TCP destination ports.
type PortRange struct {
	First, Last uint16
}

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Rule steers connections to any of Destinations (all addresses when empty)
// on any of Ports to the listener named Listener.
type Rule struct {
	Listener     string
	Destinations []netip.Prefix
	Ports        []PortRange
}

// Class gives the connections a rule matches from Sources their own
// listener (a tenant class, its sources as in the guard).
type Class struct {
	Name     string // for errors (e.g. the tenant name)
	Listener string
	Sources  []netip.Prefix
}

// Desired is the steering a configuration asks for.
type Desired struct {
	Rules   []Rule
	Classes []Class
}

// listeners returns every listener name Desired refers to, in order.
func (d Desired) listeners() []string {
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, r := range d.Rules {
		add(r.Listener)
	}
	for _, c := range d.Classes {
		add(c.Listener)
	}
	return out
}

// dstKey and srcKey mirror weir_steer_dst_key and weir_steer_src_key: the
// first 32 bits of the LPM key are the port class or rule, then an IPv6
// (or IPv4-mapped) address.
type lpmKey struct {
	Prefixlen uint32
	ID        uint32
	Addr      [16]byte
}

// tables are the map contents compiled from a Desired.
type tables struct {
	ports map[uint16]uint32    // port → class
	dst   map[lpmKey][2]uint32 // (class, destination) → {rule, listener slot}
	src   map[lpmKey]uint32    // (rule, source) → listener slot
}

// allAddresses is the destination of a rule without destinations.
var allAddresses = netip.MustParsePrefix("::/0")

// keyOf builds an LPM key; IPv4 prefixes become IPv4-mapped IPv6 ones.
func keyOf(id uint32, p netip.Prefix) lpmKey {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	return lpmKey{Prefixlen: 32 + uint32(bits), ID: id, Addr: netip.AddrFrom16(p.Addr().As16()).As16()}
}

// compile turns d into map contents. slot gives a listener's slot. Two rules
// that steer the same destination prefix and port to different listeners
// are an error naming both.
func compile(d Desired, slot func(string) (uint32, error)) (tables, error) {
	t := tables{ports: map[uint16]uint32{}, dst: map[lpmKey][2]uint32{}, src: map[lpmKey]uint32{}}
	// Slots in order of first mention, so a new name's slot does not depend
	// on map iteration order.
	slotOf := map[string]uint32{}
	for _, n := range d.listeners() {
		s, err := slot(n)
		if err != nil {
			return t, err
		}
		slotOf[n] = s
	}
	// Each port's class is the set of rules covering it; ports with the
	// same set share a class (ids from 1, in order of first appearance).
	members := map[uint16][]int{}
	for i, r := range d.Rules {
		if len(r.Ports) == 0 {
			return t, fmt.Errorf("rules[%d] (listener %s): no ports", i, r.Listener)
		}
		for _, pr := range r.Ports {
			if pr.First == 0 || pr.Last < pr.First {
				return t, fmt.Errorf("rules[%d] (listener %s): bad port range %s", i, r.Listener, pr)
			}
			for p := int(pr.First); p <= int(pr.Last); p++ {
				if m := members[uint16(p)]; len(m) == 0 || m[len(m)-1] != i {
					members[uint16(p)] = append(m, i)
				}
			}
		}
	}
	classOf := map[string]uint32{}
	classRules := map[uint32][]int{}
	ports := make([]int, 0, len(members))
	for p := range members {
		ports = append(ports, int(p))
	}
	slices.Sort(ports)
	for _, p := range ports {
		m := members[uint16(p)]
		sig := fmt.Sprint(m)
		c, ok := classOf[sig]
		if !ok {
			c = uint32(len(classOf) + 1)
			classOf[sig] = c
			classRules[c] = m
		}
		t.ports[uint16(p)] = c
	}
	owner := map[lpmKey]int{}
	for c := uint32(1); c <= uint32(len(classRules)); c++ {
		for _, i := range classRules[c] {
			r := d.Rules[i]
			ls := slotOf[r.Listener]
			dsts := r.Destinations
			if len(dsts) == 0 {
				dsts = []netip.Prefix{allAddresses}
			}
			for _, p := range dsts {
				if !p.IsValid() {
					return t, fmt.Errorf("rules[%d] (listener %s): invalid destination prefix", i, r.Listener)
				}
				k := keyOf(c, p)
				if j, dup := owner[k]; dup && j != i {
					if d.Rules[j].Listener != r.Listener {
						return t, fmt.Errorf("rules[%d] and rules[%d] both steer %s on a shared port to different listeners (%s, %s)", j, i, p.Masked(), d.Rules[j].Listener, r.Listener)
					}
					continue
				}
				owner[k] = i
				t.dst[k] = [2]uint32{uint32(i), ls}
			}
		}
	}
	for ci, c := range d.Classes {
		ls := slotOf[c.Listener]
		for _, p := range c.Sources {
			if !p.IsValid() {
				return t, fmt.Errorf("classes[%d] (%s): invalid source prefix", ci, c.Name)
			}
			for i := range d.Rules {
				k := keyOf(uint32(i), p)
				if prev, dup := t.src[k]; dup && prev != ls {
					return t, fmt.Errorf("classes[%d] (%s): source %s is already another class's", ci, c.Name, p.Masked())
				}
				t.src[k] = ls
			}
		}
	}
	return t, nil
}
