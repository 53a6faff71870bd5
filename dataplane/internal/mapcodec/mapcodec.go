// Package mapcodec holds the encodings shared by the map packages: addresses
// as the guard stores them (family byte + 16 address bytes, IPv4 in the first
// four) and whole-map iteration.
package mapcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Address families as stored in map keys (WEIR_FAMILY_V4/V6 in weir.h).
const (
	FamilyV4 = 4
	FamilyV6 = 6
)

// KeyHeaderBits is the LPM prefix length covered by the fields between
// prefixlen and the address (dport, family, pad in weir_class_key; family,
// pad in weir_deny_key): they always match exactly.
const KeyHeaderBits = 32

// EncodeAddr returns the family byte and address bytes of a. An IPv4-mapped
// IPv6 address stays IPv6: that is what such packets carry on the wire.
func EncodeAddr(a netip.Addr) (family uint8, out [16]byte) {
	if a.Is4() {
		b := a.As4()
		copy(out[:], b[:])
		return FamilyV4, out
	}
	return FamilyV6, a.As16()
}

// DecodeAddr is the inverse of EncodeAddr.
func DecodeAddr(family uint8, b [16]byte) (netip.Addr, error) {
	switch family {
	case FamilyV4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case FamilyV6:
		return netip.AddrFrom16(b), nil
	}
	return netip.Addr{}, fmt.Errorf("decode address: unknown family %d", family)
}

// EncodePrefix returns the LPM prefixlen, family and address bytes for p,
// which must be valid; the address is masked to the prefix.
func EncodePrefix(p netip.Prefix) (prefixlen uint32, family uint8, out [16]byte, err error) {
	if !p.IsValid() {
		return 0, 0, out, fmt.Errorf("encode prefix %v: invalid", p)
	}
	p = p.Masked()
	family, out = EncodeAddr(p.Addr())
	return KeyHeaderBits + uint32(p.Bits()), family, out, nil
}

// DecodePrefix is the inverse of EncodePrefix.
func DecodePrefix(prefixlen uint32, family uint8, b [16]byte) (netip.Prefix, error) {
	a, err := DecodeAddr(family, b)
	if err != nil {
		return netip.Prefix{}, err
	}
	if prefixlen < KeyHeaderBits || int(prefixlen-KeyHeaderBits) > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("decode prefix: prefixlen %d out of range for %v", prefixlen, a)
	}
	return netip.PrefixFrom(a, int(prefixlen-KeyHeaderBits)), nil
}

// Port16 returns port in network byte order as the guard compares it
// (__be16 read as a host integer).
func Port16(port uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], port)
	return binary.NativeEndian.Uint16(b[:])
}

// PortFrom16 is the inverse of Port16.
func PortFrom16(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}

// All collects every entry of m.
func All[K comparable, V any](m *ebpf.Map) (map[K]V, error) {
	out := make(map[K]V)
	var (
		k K
		v V
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate %s: %w", m, err)
	}
	return out, nil
}

// Delete removes key from m; a missing key is not an error.
func Delete(m *ebpf.Map, key any) error {
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete from %s: %w", m, err)
	}
	return nil
}

// Put writes key=value into m.
func Put(m *ebpf.Map, key, value any) error {
	if err := m.Put(key, value); err != nil {
		return fmt.Errorf("update %s: %w", m, err)
	}
	return nil
}
