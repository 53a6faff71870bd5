package classify

import (
	"net/netip"
	"testing"
)

func TestEncode(t *testing.T) {
	k, err := Encode(Key{Prefix: netip.MustParsePrefix("10.20.0.0/16"), Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	// 32 bits of port, family and pad always match, then the CIDR.
	if k.Prefixlen != 48 || k.Family != 4 || k.Addr[0] != 10 || k.Addr[1] != 20 {
		t.Errorf("key %+v", k)
	}
	back, err := Decode(k)
	if err != nil || back != (Key{Prefix: netip.MustParsePrefix("10.20.0.0/16"), Port: 443}) {
		t.Errorf("decode %v %v", back, err)
	}
	if _, err := Encode(Key{}); err == nil {
		t.Error("invalid prefix accepted")
	}
}

func TestKeyString(t *testing.T) {
	if s := (Key{Prefix: netip.MustParsePrefix("2001:db8::/32"), Port: 8443}).String(); s != "2001:db8::/32 port 8443" {
		t.Errorf("String() = %q", s)
	}
}
