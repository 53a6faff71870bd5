package cidrset

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func set(ss ...string) Set { return Of(pfx(ss...)...) }

func TestSetAlgebra(t *testing.T) {
	tests := []struct {
		name string
		got  Set
		want []string // Prefixes()
	}{
		{"empty", Set{}, nil},
		{"one", set("10.0.0.0/8"), []string{"10.0.0.0/8"}},
		{"host bits ignored", set("10.1.2.3/8"), []string{"10.0.0.0/8"}},
		{"adjacent halves merge", set("10.0.0.0/9", "10.128.0.0/9"), []string{"10.0.0.0/8"}},
		{"contained is absorbed", set("10.0.0.0/8", "10.1.0.0/16"), []string{"10.0.0.0/8"}},
		{"families apart", set("10.0.0.0/8", "2001:db8::/32"), []string{"10.0.0.0/8", "2001:db8::/32"}},
		{"intersect nested", set("10.0.0.0/8").Intersect(set("10.1.0.0/16", "192.168.0.0/16")), []string{"10.1.0.0/16"}},
		{"intersect disjoint", set("10.0.0.0/8").Intersect(set("11.0.0.0/8")), nil},
		{"intersect across families", set("10.0.0.0/8").Intersect(set("2001:db8::/32")), nil},
		{"minus hole", set("10.0.0.0/14").Minus(set("10.1.0.0/16")), []string{"10.0.0.0/16", "10.2.0.0/15"}},
		{"minus all", set("10.0.0.0/8").Minus(All()), nil},
		{"complement of v4 half", set("0.0.0.0/1").Complement(), []string{"128.0.0.0/1", "::/0"}},
		{"complement of all", All().Complement(), nil},
		{"complement of empty", Set{}.Complement(), []string{"0.0.0.0/0", "::/0"}},
		{"double complement", set("10.1.2.0/24", "2001:db8::/48").Complement().Complement(), []string{"10.1.2.0/24", "2001:db8::/48"}},
		{"zero-length prefix", set("0.0.0.0/0"), []string{"0.0.0.0/0"}},
		{"host routes", set("10.0.0.1/32", "10.0.0.0/32"), []string{"10.0.0.0/31"}},
		{"v6 host", set("2001:db8::1/128"), []string{"2001:db8::1/128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range tt.got.Prefixes() {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Prefixes() = %v, want %v", got, tt.want)
			}
			if !Of(tt.got.Prefixes()...).Equal(tt.got) {
				t.Errorf("Of(Prefixes()) is not the same set")
			}
		})
	}
}

func TestContains(t *testing.T) {
	s := set("10.0.0.0/8", "2001:db8::/32").Minus(set("10.1.0.0/16"))
	tests := []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true},
		{"10.1.0.1", false},
		{"10.2.255.255", true},
		{"11.0.0.0", false},
		{"2001:db8::1", true},
		{"2001:db9::1", false},
		{"::ffff:10.0.0.1", false}, // IPv4-mapped is IPv6, as on the wire
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := s.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Contains(%s) = %t, want %t", tt.addr, got, tt.want)
			}
		})
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the zero Addr is in a set")
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name   string
		layers []Set
		want   string // "prefix=class" entries
	}{
		{"nothing", []Set{{}}, ""},
		{"one cidr", []Set{set("10.0.0.0/8")}, "10.0.0.0/8=0"},
		{"hole becomes an exception", []Set{set("10.0.0.0/8").Minus(set("10.1.0.0/16"))}, "10.0.0.0/8=0 10.1.0.0/16=1"},
		{"two holes", []Set{set("10.0.0.0/8").Minus(set("10.1.0.0/16", "10.200.0.0/24"))}, "10.0.0.0/8=0 10.1.0.0/16=1 10.200.0.0/24=1"},
		{"everything but a range", []Set{set("192.168.0.0/16").Complement()}, "0.0.0.0/0=0 192.168.0.0/16=1 ::/0=0"},
		{"first layer wins", []Set{set("10.1.0.0/16"), set("10.0.0.0/8")}, "10.0.0.0/8=1 10.1.0.0/16=0"},
		{"exception inside a second layer", []Set{set("10.1.0.0/16"), set("10.0.0.0/8").Minus(set("10.2.0.0/16"))}, "10.0.0.0/8=1 10.1.0.0/16=0 10.2.0.0/16=2"},
		{"three-way split of all", []Set{set("10.0.0.0/8"), All().Minus(set("10.0.0.0/8", "10.9.0.0/16", "2001:db8::/32"))},
			"0.0.0.0/0=1 10.0.0.0/8=0 ::/0=1 2001:db8::/32=2"},
		{"a mostly-full half is one entry and a hole", []Set{set("0.0.0.0/1").Minus(set("10.0.0.0/8"))}, "0.0.0.0/1=0 10.0.0.0/8=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Encode(tt.layers...) {
				got = append(got, fmt.Sprintf("%s=%d", e.Prefix, e.Class))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("Encode = %q, want %q", s, tt.want)
			}
		})
	}
}

// universe decodes fuzz bytes into prefix lists: each prefix is 4 bytes
// (list and family, two address bytes, length), IPv4 inside 10.0.0.0/16
// and IPv6 inside 2001:db8::/32, so that prefixes overlap often.
func universe(data []byte, lists int) [][]netip.Prefix {
	out := make([][]netip.Prefix, lists)
	for i := 0; i+4 <= len(data) && i < 4*64; i += 4 {
		list := int(data[i]&0x7f) % lists
		v6 := data[i]&0x80 != 0
		var p netip.Prefix
		if v6 {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, data[i+1], data[i+2]}
			p = netip.PrefixFrom(netip.AddrFrom16(a), 16+int(data[i+3])%(128-16+1))
		} else {
			a := [4]byte{10, 0, data[i+1], data[i+2]}
			p = netip.PrefixFrom(netip.AddrFrom4(a), 8+int(data[i+3])%(32-8+1))
		}
		out[list] = append(out[list], p.Masked())
	}
	return out
}

// probes are the addresses where membership of any union of the prefixes
// can change: each prefix's first and last address and their neighbours,
// plus the ends of both families. Between two probes every set built from
// the prefixes is constant, so checking the probes checks every address.
func probes(lists [][]netip.Prefix) []netip.Addr {
	out := []netip.Addr{
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("::"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
	}
	for _, l := range lists {
		for _, p := range l {
			first, last := p.Addr(), lastAddr(p)
			out = append(out, first, last)
			if prev := first.Prev(); prev.IsValid() {
				out = append(out, prev)
			}
			if next := last.Next(); next.IsValid() {
				out = append(out, next)
			}
		}
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FuzzAlgebraAndEncode checks the trie operations and Encode against a
// brute-force evaluation with netip.Prefix.Contains at every probe address.
func FuzzAlgebraAndEncode(f *testing.F) {
	f.Add([]byte{0, 1, 0, 8, 1, 1, 0, 16, 2, 1, 7, 24, 3, 1, 7, 32})
	f.Add([]byte{0x80, 0, 0, 0, 0x81, 0, 1, 100, 2, 0, 0, 0, 3, 200, 3, 30})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 1, 2, 128, 0, 1, 3, 0, 0, 24, 0, 0, 1, 24})
	f.Fuzz(func(t *testing.T, data []byte) {
		lists := universe(data, 4)
		s := make([]Set, 4)
		for i, l := range lists {
			s[i] = Of(l...)
		}
		refuse := s[0].Intersect(s[1].Union(s[2].Complement()))
		limited := s[3].Minus(s[2])
		entries := Encode(refuse, limited)
		for _, e := range entries {
			if e.Prefix != e.Prefix.Masked() || e.Class < 0 || e.Class > 2 {
				t.Fatalf("bad entry %v", e)
			}
		}
		for _, a := range probes(lists) {
			in := func(i int) bool { return inAny(lists[i], a) }
			wantRefuse := in(0) && (in(1) || !in(2))
			wantLimited := in(3) && !in(2)
			if got := refuse.Contains(a); got != wantRefuse {
				t.Fatalf("%s: refuse %t, want %t (lists %v)", a, got, wantRefuse, lists)
			}
			if got := limited.Contains(a); got != wantLimited {
				t.Fatalf("%s: limited %t, want %t (lists %v)", a, got, wantLimited, lists)
			}
			want := 2
			switch {
			case wantRefuse:
				want = 0
			case wantLimited:
				want = 1
			}
			if got := Lookup(entries, a, 2); got != want {
				t.Fatalf("%s: LPM class %d, want %d (entries %v, lists %v)", a, got, want, entries, lists)
			}
			if got := inAny(refuse.Prefixes(), a); got != wantRefuse {
				t.Fatalf("%s: in Prefixes() %t, want %t", a, got, wantRefuse)
			}
		}
		// Prefixes are disjoint and minimal: no two merge into a parent.
		ps := refuse.Prefixes()
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				if ps[i].Overlaps(ps[j]) {
					t.Fatalf("Prefixes overlap: %v %v", ps[i], ps[j])
				}
			}
		}
		// No encoding is larger than listing each class's prefixes.
		if n := len(refuse.Prefixes()) + len(limited.Minus(refuse).Prefixes()); len(entries) > n {
			t.Fatalf("%d entries, more than the %d disjoint prefixes", len(entries), n)
		}
	})
}
