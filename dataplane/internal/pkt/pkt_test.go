package pkt

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestLayers(t *testing.T) {
	p := Eth().QinQ(100).VLAN(7).IPv4("10.0.0.1", "10.0.0.2").Options(4).TCP(1234, 443, SYN).Bytes()
	if got := binary.BigEndian.Uint16(p[12:]); got != EtherQinQ {
		t.Errorf("outer type %#x", got)
	}
	if got := binary.BigEndian.Uint16(p[16:]); got != EtherVLAN {
		t.Errorf("middle type %#x", got)
	}
	if got := binary.BigEndian.Uint16(p[20:]); got != EtherIPv4 {
		t.Errorf("inner type %#x", got)
	}
	ip := p[22:]
	if ip[0] != 0x46 || ip[9] != ProtoTCP || binary.BigEndian.Uint16(ip[2:]) != 24+20 {
		t.Errorf("ipv4 header % x", ip[:24])
	}
	if checksum(ip[:24]) != 0 {
		t.Error("ipv4 checksum does not verify")
	}
	tcp := ip[24:]
	if binary.BigEndian.Uint16(tcp[2:]) != 443 || tcp[13] != SYN || tcp[12] != 5<<4 {
		t.Errorf("tcp header % x", tcp)
	}
}

func TestIPv6Chain(t *testing.T) {
	p := Eth().IPv6("2001:db8::1", "2001:db8::2").Ext(ProtoHopOpts, 0).Ext(ProtoAH, 4).Frag6(3, true).UDP(1, 2).Payload([]byte("x")).Bytes()
	ip6 := p[14:]
	if ip6[6] != ProtoHopOpts || binary.BigEndian.Uint16(ip6[4:]) != uint16(len(ip6)-40) {
		t.Errorf("ipv6 header % x", ip6[:8])
	}
	hop := ip6[40:]
	if hop[0] != ProtoAH || hop[1] != 0 {
		t.Errorf("hop-by-hop % x", hop[:2])
	}
	ah := hop[8:]
	if ah[0] != ProtoFragment || len(ah) < 24 {
		t.Errorf("ah % x", ah[:2])
	}
	frag := ah[24:]
	if frag[0] != ProtoUDP || binary.BigEndian.Uint16(frag[2:]) != 3<<3|1 {
		t.Errorf("fragment % x", frag[:4])
	}
	if !bytes.HasSuffix(p, []byte("x")) || binary.BigEndian.Uint16(frag[8+4:]) != 9 {
		t.Error("udp length or payload wrong")
	}
}

func TestQUICAndTruncate(t *testing.T) {
	p := Eth().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 443).QUICLong(0xc3, 1, 1200).Bytes()
	q := p[14+20+8:]
	if len(q) != 1200 || q[0] != 0xc3 || binary.BigEndian.Uint32(q[1:]) != 1 {
		t.Errorf("quic % x (len %d)", q[:5], len(q))
	}
	if got := Truncate(p, 20); len(got) != 20 || &got[0] == &p[0] {
		t.Error("Truncate must copy the first n bytes")
	}
}
