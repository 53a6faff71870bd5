package mapcodec

import (
	"net/netip"
	"testing"
)

func TestPrefixRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.0/8", "10.1.2.3/32", "0.0.0.0/0", "2001:db8::/32", "::/0", "::ffff:10.0.0.0/104", "fe80::1/128"} {
		p := netip.MustParsePrefix(s)
		plen, fam, addr, err := EncodePrefix(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint32(KeyHeaderBits + p.Bits()); plen != want {
			t.Errorf("%s: prefixlen %d, want %d", s, plen, want)
		}
		if p.Addr().Is4() != (fam == FamilyV4) {
			t.Errorf("%s: family %d", s, fam)
		}
		got, err := DecodePrefix(plen, fam, addr)
		if err != nil || got != p.Masked() {
			t.Errorf("%s: round trip %v %v", s, got, err)
		}
	}
}

func TestEncodeMasks(t *testing.T) {
	_, _, addr, _ := EncodePrefix(netip.MustParsePrefix("10.1.2.3/16"))
	if addr != [16]byte{10, 1} {
		t.Errorf("host bits kept: %v", addr)
	}
}

func TestDecodeRejects(t *testing.T) {
	if _, err := DecodePrefix(32+33, FamilyV4, [16]byte{}); err == nil {
		t.Error("v4 /33 accepted")
	}
	if _, err := DecodePrefix(10, FamilyV4, [16]byte{}); err == nil {
		t.Error("prefixlen below the header accepted")
	}
	if _, err := DecodeAddr(5, [16]byte{}); err == nil {
		t.Error("family 5 accepted")
	}
	if _, _, _, err := EncodePrefix(netip.Prefix{}); err == nil {
		t.Error("invalid prefix accepted")
	}
}

func TestPort16(t *testing.T) {
	for _, p := range []uint16{0, 1, 80, 443, 0xabcd, 65535} {
		if PortFrom16(Port16(p)) != p {
			t.Errorf("port %d does not round-trip", p)
		}
	}
	b := Port16(443)
	if raw := [2]byte{byte(b), byte(b >> 8)}; raw != [2]byte{0x01, 0xbb} {
		t.Errorf("443 in memory is %x, want network order 01bb", raw)
	}
}
