// Package cidrset is exact set algebra on IP addresses (union, intersection,
// complement of CIDR lists, IPv4 and IPv6 apart) and the encoding of a
// partition of the address space into the fewest entries of a
// longest-prefix-match table, the form the kernel guard's LPM tries take.
//
// A Set is a binary trie per family in which a subtree is empty, full, or
// split in two; it is kept canonical (a node whose halves are both empty or
// both full is that itself), so equal sets have equal shapes. Sets are
// immutable values, safe to share.
package cidrset

import (
	"net/netip"
	"slices"
)

// node is a trie node: nil is the empty set, full the whole subtree, any
// other node splits on the next bit (c[0] the 0 half, c[1] the 1 half).
type node struct {
	c [2]*node
}

// full is the one "every address below" node.
var full = &node{}

func mk(zero, one *node) *node {
	switch {
	case zero == nil && one == nil:
		return nil
	case zero == full && one == full:
		return full
	}
	return &node{c: [2]*node{zero, one}}
}

// child returns the half b of n, treating full as two full halves.
func child(n *node, b int) *node {
	if n == nil || n == full {
		return n
	}
	return n.c[b]
}

// Set is a set of IP addresses. The zero value is empty.
type Set struct {
	v4, v6 *node
}

// All is the set of every IPv4 and IPv6 address.
func All() Set { return Set{v4: full, v6: full} }

// Of returns the union of the prefixes (host bits are ignored). Invalid
// prefixes are skipped: callers validate first.
func Of(prefixes ...netip.Prefix) Set {
	var s Set
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		a := p.Addr()
		n := full
		if a.Is4() {
			b := a.As4()
			for i := p.Bits() - 1; i >= 0; i-- {
				n = bitNode(bit(b[:], i), n)
			}
			s.v4 = union(s.v4, n)
			continue
		}
		b := a.As16()
		for i := p.Bits() - 1; i >= 0; i-- {
			n = bitNode(bit(b[:], i), n)
		}
		s.v6 = union(s.v6, n)
	}
	return s
}

func bitNode(b int, n *node) *node {
	if b == 0 {
		return &node{c: [2]*node{n, nil}}
	}
	return &node{c: [2]*node{nil, n}}
}

func bit(addr []byte, i int) int { return int(addr[i/8]>>(7-i%8)) & 1 }

func union(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a == full || b == full:
		return full
	}
	return mk(union(a.c[0], b.c[0]), union(a.c[1], b.c[1]))
}

func intersect(a, b *node) *node {
	switch {
	case a == nil || b == nil:
		return nil
	case a == full:
		return b
	case b == full:
		return a
	}
	return mk(intersect(a.c[0], b.c[0]), intersect(a.c[1], b.c[1]))
}

func complement(a *node) *node {
	switch a {
	case nil:
		return full
	case full:
		return nil
	}
	return mk(complement(a.c[0]), complement(a.c[1]))
}

// Union is s ∪ o.
func (s Set) Union(o Set) Set { return Set{union(s.v4, o.v4), union(s.v6, o.v6)} }

// Intersect is s ∩ o.
func (s Set) Intersect(o Set) Set { return Set{intersect(s.v4, o.v4), intersect(s.v6, o.v6)} }

// Complement is every address not in s (of both families).
func (s Set) Complement() Set { return Set{complement(s.v4), complement(s.v6)} }

// Minus is s \ o.
func (s Set) Minus(o Set) Set { return s.Intersect(o.Complement()) }

// IsEmpty reports whether s has no address.
func (s Set) IsEmpty() bool { return s.v4 == nil && s.v6 == nil }

// Contains reports whether a is in s. An IPv4-mapped IPv6 address is an
// IPv6 address here, as it is to the kernel's packet parser.
func (s Set) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	n, b := s.v6, a.As16()
	bits := 128
	if a.Is4() {
		n, bits = s.v4, 32
		b4 := a.As4()
		copy(b[:], b4[:])
	}
	for i := 0; i < bits && n != nil && n != full; i++ {
		n = n.c[bit(b[:], i)]
	}
	return n == full
}

// Prefixes returns s as disjoint prefixes in address order (IPv4 first),
// the fewest that cover it exactly.
func (s Set) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	walk(s.v4, 4, func(p netip.Prefix, n *node) {
		if n == full {
			out = append(out, p)
		}
	})
	walk(s.v6, 6, func(p netip.Prefix, n *node) {
		if n == full {
			out = append(out, p)
		}
	})
	return out
}

// Equal reports whether s and o hold the same addresses.
func (s Set) Equal(o Set) bool { return equal(s.v4, o.v4) && equal(s.v6, o.v6) }

func equal(a, b *node) bool {
	if a == nil || b == nil || a == full || b == full {
		return a == b
	}
	return equal(a.c[0], b.c[0]) && equal(a.c[1], b.c[1])
}

// walk calls fn for every leaf (empty or full subtree) of n in address
// order, with the prefix the leaf covers. An empty family calls fn once
// with its zero-length prefix.
func walk(n *node, family int, fn func(netip.Prefix, *node)) {
	var addr [16]byte
	var rec func(n *node, depth int)
	rec = func(n *node, depth int) {
		if n == nil || n == full {
			fn(prefixOf(family, addr, depth), n)
			return
		}
		for b := range 2 {
			if b == 1 {
				addr[depth/8] |= 1 << (7 - depth%8)
			}
			rec(n.c[b], depth+1)
			if b == 1 {
				addr[depth/8] &^= 1 << (7 - depth%8)
			}
		}
	}
	rec(n, 0)
}

func prefixOf(family int, addr [16]byte, bits int) netip.Prefix {
	if family == 4 {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(addr[:4])), bits)
	}
	return netip.PrefixFrom(netip.AddrFrom16(addr), bits)
}

// Entry is one longest-prefix-match table entry: addresses whose longest
// matching entry is this one are in class Class.
type Entry struct {
	Prefix netip.Prefix
	Class  int
}

// Encode turns layered sets into LPM entries. The class of an address is
// the index of the first layer that contains it, or len(layers) when none
// does; an address no entry covers is in class len(layers) too (so a table
// without entries means "no layer"). The result is the fewest entries that
// give every address its class under longest-prefix match: entries of
// class len(layers) appear only as exceptions inside a wider entry of
// another class. Entries are sorted by address, then length.
func Encode(layers ...Set) []Entry {
	k := len(layers)
	var out []Entry
	for _, fam := range []int{4, 6} {
		nodes := make([]*node, k)
		for i, l := range layers {
			nodes[i] = l.v4
			if fam == 6 {
				nodes[i] = l.v6
			}
		}
		e := &encoder{k: k, family: fam}
		root := e.plan(nodes, 0)
		e.emit(root, k)
		out = append(out, e.out...)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Prefix.Addr().Is4() != b.Prefix.Addr().Is4() {
			if a.Prefix.Addr().Is4() {
				return -1
			}
			return 1
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// plan is the dynamic program of Encode for one subtree: cost[d] is the
// fewest entries that encode the subtree when its addresses would
// otherwise get class d from a shorter entry; choice[d] is the class of the
// entry placed at the subtree's root for that (d itself: none).
type plan struct {
	prefix netip.Prefix
	leaf   int // class of a uniform subtree, or -1
	kids   [2]*plan
	cost   []int
	choice []int
}

type encoder struct {
	k      int
	family int
	addr   [16]byte
	out    []Entry
}

// classOf returns the class of a subtree where every layer is empty or
// full, or -1 when some layer still splits.
func classOf(nodes []*node) int {
	class := -1
	for i, n := range nodes {
		if n != nil && n != full {
			return -1
		}
		if n == full && class < 0 {
			class = i
		}
	}
	if class < 0 {
		return len(nodes)
	}
	return class
}

func (e *encoder) plan(nodes []*node, depth int) *plan {
	p := &plan{prefix: prefixOf(e.family, e.addr, depth), cost: make([]int, e.k+1), choice: make([]int, e.k+1)}
	if c := classOf(nodes); c >= 0 {
		p.leaf = c
		for d := range p.cost {
			p.choice[d] = c
			if d != c {
				p.cost[d] = 1
			}
		}
		return p
	}
	p.leaf = -1
	for b := range 2 {
		kids := make([]*node, len(nodes))
		for i, n := range nodes {
			kids[i] = child(n, b)
		}
		if b == 1 {
			e.addr[depth/8] |= 1 << (7 - depth%8)
		}
		p.kids[b] = e.plan(kids, depth+1)
		if b == 1 {
			e.addr[depth/8] &^= 1 << (7 - depth%8)
		}
	}
	for d := range p.cost {
		best, bestC := p.kids[0].cost[d]+p.kids[1].cost[d], d
		for c := range p.cost {
			if c == d {
				continue
			}
			if n := 1 + p.kids[0].cost[c] + p.kids[1].cost[c]; n < best {
				best, bestC = n, c
			}
		}
		p.cost[d], p.choice[d] = best, bestC
	}
	return p
}

// emit writes the entries of p's optimal encoding under inherited class d.
func (e *encoder) emit(p *plan, d int) {
	c := p.choice[d]
	if c != d {
		e.out = append(e.out, Entry{Prefix: p.prefix, Class: c})
	}
	if p.leaf >= 0 {
		return
	}
	e.emit(p.kids[0], c)
	e.emit(p.kids[1], c)
}

// Lookup is the longest-prefix match of a over entries (as the kernel's LPM
// trie does it): the class of the longest entry containing a, or def.
func Lookup(entries []Entry, a netip.Addr, def int) int {
	best, class := -1, def
	for _, en := range entries {
		if en.Prefix.Contains(a) && en.Prefix.Bits() > best {
			best, class = en.Prefix.Bits(), en.Class
		}
	}
	return class
}
