// Package pkt builds test packets by hand, layer by layer:
//
//	pkt.Eth().VLAN(7).IPv4("10.0.0.1", "10.0.0.2").TCP(1234, 80, pkt.SYN).Bytes()
//
// Each layer fills in the fields that depend on the next one (EtherType,
// protocol, lengths, IPv4 header checksum) when Bytes is called. Malformed
// packets are made by truncating (Truncate) or by the Raw/With* knobs.
package pkt

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// IP protocol and IPv6 extension header numbers.
const (
	ProtoHopOpts  = 0
	ProtoICMP     = 1
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
)

// EtherTypes.
const (
	EtherIPv4  = 0x0800
	EtherARP   = 0x0806
	EtherVLAN  = 0x8100
	EtherQinQ  = 0x88A8
	EtherIPv6  = 0x86DD
	etherUnset = -1
)

type layer interface {
	// encode returns the layer's bytes given the already encoded payload
	// and the kind of the next layer (nil at the end).
	encode(payload []byte, next layer) []byte
}

// Builder accumulates layers.
type Builder struct {
	layers []layer
}

// Eth starts a frame with an Ethernet header; its EtherType follows the
// next layer unless set with EtherType.
func Eth() *Builder { return &Builder{layers: []layer{&eth{typ: etherUnset}}} }

// EtherType forces the EtherType of the preceding Ethernet or VLAN layer.
func (b *Builder) EtherType(t uint16) *Builder {
	switch l := b.last().(type) {
	case *eth:
		l.typ = int(t)
	case *vlan:
		l.typ = int(t)
	default:
		panic("pkt: EtherType after a non-Ethernet layer")
	}
	return b
}

// VLAN adds an 802.1Q tag.
func (b *Builder) VLAN(id uint16) *Builder {
	return b.add(&vlan{tpid: EtherVLAN, id: id, typ: etherUnset})
}

// QinQ adds an 802.1ad (service) tag.
func (b *Builder) QinQ(id uint16) *Builder {
	return b.add(&vlan{tpid: EtherQinQ, id: id, typ: etherUnset})
}

// IPv4 adds an IPv4 header.
func (b *Builder) IPv4(src, dst string) *Builder {
	return b.add(&ipv4{src: addr(src, true), dst: addr(dst, true), ttl: 64, ihl: 5, proto: -1})
}

// Options gives the preceding IPv4 header n bytes of options (NOPs padded
// to a multiple of 4) and sets IHL accordingly.
func (b *Builder) Options(n int) *Builder {
	ip := b.last().(*ipv4)
	n = (n + 3) / 4 * 4
	ip.opts = make([]byte, n)
	for i := range ip.opts {
		ip.opts[i] = 1 // NOP
	}
	ip.ihl = uint8(5 + n/4)
	return b
}

// IHL overrides the IPv4 header length field (in 32-bit words).
func (b *Builder) IHL(words uint8) *Builder {
	b.last().(*ipv4).ihlOverride = int(words)
	return b
}

// Version overrides the IP version nibble of the preceding IP header.
func (b *Builder) Version(v uint8) *Builder {
	switch l := b.last().(type) {
	case *ipv4:
		l.version = int(v)
	case *ipv6:
		l.version = int(v)
	}
	return b
}

// Fragment marks the preceding IPv4 header (offset in 8-byte units).
func (b *Builder) Fragment(offset uint16, more bool) *Builder {
	ip := b.last().(*ipv4)
	ip.frag = offset & 0x1fff
	if more {
		ip.frag |= 0x2000
	}
	return b
}

// Proto forces the protocol / next header of the preceding IP header.
func (b *Builder) Proto(p uint8) *Builder {
	switch l := b.last().(type) {
	case *ipv4:
		l.proto = int(p)
	case *ipv6:
		l.next = int(p)
	case *ext:
		l.next = int(p)
	}
	return b
}

// IPv6 adds an IPv6 header.
func (b *Builder) IPv6(src, dst string) *Builder {
	return b.add(&ipv6{src: addr(src, false), dst: addr(dst, false), next: -1})
}

// Ext adds an IPv6 extension header of type kind (hop-by-hop, routing,
// destination options or AH) with n 8-byte units (AH: 4-byte units) after
// the first unit.
func (b *Builder) Ext(kind uint8, n uint8) *Builder {
	return b.add(&ext{kind: kind, n: n, next: -1})
}

// Frag6 adds an IPv6 fragment header (offset in 8-byte units).
func (b *Builder) Frag6(offset uint16, more bool) *Builder {
	return b.add(&frag6{offset: offset, more: more, next: -1})
}

// TCP adds a TCP header.
func (b *Builder) TCP(sport, dport uint16, flags uint8) *Builder {
	return b.add(&tcp{sport: sport, dport: dport, flags: flags, doff: 5})
}

// DataOffset overrides the preceding TCP header's data offset (words).
func (b *Builder) DataOffset(words uint8) *Builder {
	b.last().(*tcp).doff = words
	return b
}

// UDP adds a UDP header.
func (b *Builder) UDP(sport, dport uint16) *Builder {
	return b.add(&udp{sport: sport, dport: dport})
}

// ICMP adds a minimal ICMP echo request.
func (b *Builder) ICMP() *Builder {
	return b.add(icmp{})
}

// QUICLong adds a QUIC long-header packet: first byte first, the 4-byte
// version, then zero padding up to size bytes.
func (b *Builder) QUICLong(first byte, version uint32, size int) *Builder {
	p := make([]byte, max(size, 5))
	p[0] = first
	binary.BigEndian.PutUint32(p[1:], version)
	return b.add(raw(p))
}

// Payload appends raw bytes.
func (b *Builder) Payload(p []byte) *Builder { return b.add(raw(p)) }

// Bytes encodes the packet.
func (b *Builder) Bytes() []byte {
	var out []byte
	for i := len(b.layers) - 1; i >= 0; i-- {
		var next layer
		if i+1 < len(b.layers) {
			next = b.layers[i+1]
		}
		out = b.layers[i].encode(out, next)
	}
	return out
}

// Truncate returns the first n bytes of p (a copy).
func Truncate(p []byte, n int) []byte {
	return append([]byte(nil), p[:min(n, len(p))]...)
}

func (b *Builder) add(l layer) *Builder {
	b.layers = append(b.layers, l)
	return b
}

func (b *Builder) last() layer { return b.layers[len(b.layers)-1] }

func addr(s string, v4 bool) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is4() != v4 {
		panic(fmt.Sprintf("pkt: bad address %q", s))
	}
	return a
}

func etherTypeOf(next layer) uint16 {
	switch n := next.(type) {
	case *vlan:
		return n.tpid
	case *ipv4:
		return EtherIPv4
	case *ipv6:
		return EtherIPv6
	}
	return 0x88B5 // local experimental
}

func protoOf(next layer) uint8 {
	switch n := next.(type) {
	case *tcp:
		return ProtoTCP
	case *udp:
		return ProtoUDP
	case *ext:
		return n.kind
	case *frag6:
		return ProtoFragment
	case icmp:
		return ProtoICMP
	}
	return ProtoNoNext
}

type eth struct{ typ int }

func (l *eth) encode(p []byte, next layer) []byte {
	h := make([]byte, 14, 14+len(p))
	copy(h[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(h[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	t := l.typ
	if t == etherUnset {
		t = int(etherTypeOf(next))
	}
	binary.BigEndian.PutUint16(h[12:], uint16(t))
	return append(h, p...)
}

type vlan struct {
	tpid uint16
	id   uint16
	typ  int
}

func (l *vlan) encode(p []byte, next layer) []byte {
	// The TPID is written by the previous layer's EtherType; a tag is TCI
	// plus the inner EtherType.
	h := make([]byte, 4, 4+len(p))
	binary.BigEndian.PutUint16(h[0:], l.id&0x0fff)
	t := l.typ
	if t == etherUnset {
		t = int(etherTypeOf(next))
	}
	binary.BigEndian.PutUint16(h[2:], uint16(t))
	return append(h, p...)
}

type ipv4 struct {
	src, dst    netip.Addr
	ttl         uint8
	ihl         uint8
	ihlOverride int
	version     int
	frag        uint16
	proto       int
	opts        []byte
}

func (l *ipv4) encode(p []byte, next layer) []byte {
	hl := 20 + len(l.opts)
	h := make([]byte, hl, hl+len(p))
	ver, ihl := 4, int(l.ihl)
	if l.version != 0 {
		ver = l.version
	}
	if l.ihlOverride != 0 {
		ihl = l.ihlOverride
	}
	h[0] = byte(ver<<4 | ihl&0xf)
	binary.BigEndian.PutUint16(h[2:], uint16(hl+len(p)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	binary.BigEndian.PutUint16(h[6:], l.frag)
	h[8] = l.ttl
	proto := l.proto
	if proto < 0 {
		proto = int(protoOf(next))
	}
	h[9] = byte(proto)
	s, d := l.src.As4(), l.dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	copy(h[20:], l.opts)
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return append(h, p...)
}

type ipv6 struct {
	src, dst netip.Addr
	next     int
	version  int
}

func (l *ipv6) encode(p []byte, next layer) []byte {
	h := make([]byte, 40, 40+len(p))
	ver := 6
	if l.version != 0 {
		ver = l.version
	}
	h[0] = byte(ver << 4)
	binary.BigEndian.PutUint16(h[4:], uint16(len(p)))
	nh := l.next
	if nh < 0 {
		nh = int(protoOf(next))
		if _, ok := next.(icmp); ok {
			nh = ProtoICMPv6
		}
	}
	h[6] = byte(nh)
	h[7] = 64
	s, d := l.src.As16(), l.dst.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return append(h, p...)
}

type ext struct {
	kind uint8
	n    uint8
	next int
}

func (l *ext) encode(p []byte, next layer) []byte {
	size := (int(l.n) + 1) * 8
	if l.kind == ProtoAH {
		size = (int(l.n) + 2) * 4
	}
	h := make([]byte, size, size+len(p))
	nh := l.next
	if nh < 0 {
		nh = int(protoOf(next))
	}
	h[0] = byte(nh)
	h[1] = l.n
	return append(h, p...)
}

type frag6 struct {
	offset uint16
	more   bool
	next   int
}

func (l *frag6) encode(p []byte, next layer) []byte {
	h := make([]byte, 8, 8+len(p))
	nh := l.next
	if nh < 0 {
		nh = int(protoOf(next))
	}
	h[0] = byte(nh)
	v := l.offset << 3
	if l.more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	binary.BigEndian.PutUint32(h[4:], 0xabcd)
	return append(h, p...)
}

type tcp struct {
	sport, dport uint16
	flags        uint8
	doff         uint8
}

func (l *tcp) encode(p []byte, _ layer) []byte {
	h := make([]byte, 20, 20+len(p))
	binary.BigEndian.PutUint16(h[0:], l.sport)
	binary.BigEndian.PutUint16(h[2:], l.dport)
	binary.BigEndian.PutUint32(h[4:], 1000)
	if l.flags&ACK != 0 {
		binary.BigEndian.PutUint32(h[8:], 2000)
	}
	h[12] = l.doff << 4
	h[13] = l.flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	return append(h, p...)
}

type udp struct{ sport, dport uint16 }

func (l *udp) encode(p []byte, _ layer) []byte {
	h := make([]byte, 8, 8+len(p))
	binary.BigEndian.PutUint16(h[0:], l.sport)
	binary.BigEndian.PutUint16(h[2:], l.dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(p)))
	return append(h, p...)
}

type icmp struct{}

func (icmp) encode(p []byte, _ layer) []byte {
	return append([]byte{8, 0, 0, 0, 0, 1, 0, 1}, p...)
}

type raw []byte

func (l raw) encode(p []byte, _ layer) []byte { return append(append([]byte(nil), l...), p...) }

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
