package dataplane

import (
	"testing"

	"github.com/weir-gateway/weir/dataplane/cidrset"
	"github.com/weir-gateway/weir/dataplane/internal/pkt"
	"github.com/weir-gateway/weir/dataplane/verdict"
)

// TestPrivilegedGuardPortRules runs packets through both programs against
// listener-wide port rules: drop with an allow exception, a per-source
// connection bound with an exempt range, on tcp and udp, v4 and v6.
func TestPrivilegedGuardPortRules(t *testing.T) {
	g := loadTestGuard(t)
	mustSync(t, g, Desired{
		Tenants: []Tenant{
			{Name: "team", Sources: []Source{src("10.7.0.0/16")}, Limits: Limits{Packets: rate(1000, 1000)}},
			{Name: "outsider", Sources: []Source{src("172.16.0.0/16")}},
		},
		Ports: []PortRule{
			// tcp/8080: only 10.0.0.0/8 and 2001:db8::/32 are served, but
			// not 10.66.0.0/16.
			{Port: 8080, Proto: TCP, Drop: cidrset.All().Minus(cidrset.Of(pfxs("10.0.0.0/8", "2001:db8::/32")...)).Union(cidrset.Of(pfxs("10.66.0.0/16")...)).Prefixes()},
			// tcp/8443: one connection per second per source, 10.5.0.0/16 exempt.
			{Port: 8443, Proto: TCP, SourceConnections: rate(1, 1), Exempt: pfxs("10.5.0.0/16")},
			// udp/8443 (QUIC on the same port): 192.0.2.0/24 dropped.
			{Port: 8443, Proto: UDP, Drop: pfxs("192.0.2.0/24")},
		},
	})
	syn := func(from string, port uint16) []byte {
		return pkt.Eth().IPv4(from, "10.0.0.1").TCP(40000, port, pkt.SYN).Bytes()
	}
	tests := []struct {
		name    string
		packet  []byte
		verdict verdict.Verdict
		tenant  string
	}{
		{"allowed source", syn("10.1.2.3", 8080), verdict.Pass, DefaultTenant},
		{"source outside the allow list", syn("192.0.2.9", 8080), verdict.PortDenied, DefaultTenant},
		{"established packets too", pkt.Eth().IPv4("192.0.2.9", "10.0.0.1").TCP(40000, 8080, pkt.ACK).Bytes(), verdict.PortDenied, DefaultTenant},
		{"denied inside the allow list", syn("10.66.1.1", 8080), verdict.PortDenied, DefaultTenant},
		{"tenant source allowed", syn("10.7.0.1", 8080), verdict.Pass, "team"},
		{"refused tenant source counted under its tenant", syn("172.16.0.1", 8080), verdict.PortDenied, "outsider"},
		{"ipv6 allowed", pkt.Eth().IPv6("2001:db8::5", "2001:db8::1").TCP(1, 8080, pkt.SYN).Bytes(), verdict.Pass, DefaultTenant},
		{"ipv6 refused", pkt.Eth().IPv6("2001:db9::5", "2001:db8::1").TCP(1, 8080, pkt.SYN).Bytes(), verdict.PortDenied, DefaultTenant},
		{"other port untouched", syn("192.0.2.9", 9090), verdict.Pass, DefaultTenant},
		{"udp on the tcp rule's port untouched", pkt.Eth().IPv4("192.0.2.9", "10.0.0.1").UDP(1, 8080).Bytes(), verdict.Pass, DefaultTenant},
		{"udp rule", pkt.Eth().IPv4("192.0.2.9", "10.0.0.1").UDP(1, 8443).Bytes(), verdict.PortDenied, DefaultTenant},
		{"fragment without ports passes", pkt.Eth().IPv4("192.0.2.9", "10.0.0.1").Fragment(10, false).Proto(pkt.ProtoTCP).Payload([]byte{0}).Bytes(), verdict.Pass, DefaultTenant},
		{"icmp passes", pkt.Eth().IPv4("192.0.2.9", "10.0.0.1").ICMP().Bytes(), verdict.Pass, DefaultTenant},
	}
	for name, prog := range programs(g) {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				got := runProg(t, g, prog, tt.packet)
				if got.verdict != tt.verdict || got.tenant != tt.tenant {
					t.Errorf("verdict %v tenant %q, want %v tenant %q", got.verdict, got.tenant, tt.verdict, tt.tenant)
				}
			})
		}
	}

	t.Run("per-source connection bound", func(t *testing.T) {
		prog := programs(g)["tc"]
		now := 1000 * sec
		type send struct {
			advance uint64
			packet  []byte
			want    verdict.Verdict
		}
		sends := []send{
			{0, syn("10.1.0.1", 8443), verdict.Pass},
			{0, syn("10.1.0.1", 8443), verdict.OverPortSourceRate},
			{0, pkt.Eth().IPv4("10.1.0.1", "10.0.0.1").TCP(40000, 8443, pkt.ACK).Bytes(), verdict.Pass}, // not a new connection
			{0, syn("10.1.0.2", 8443), verdict.Pass},                                                    // another source
			{0, syn("10.5.0.1", 8443), verdict.Pass},                                                    // exempt
			{0, syn("10.5.0.1", 8443), verdict.Pass},
			{0, syn("10.1.0.1", 8080), verdict.Pass}, // another port's bound (none)
			{sec, syn("10.1.0.1", 8443), verdict.Pass},
			{0, syn("10.1.0.1", 8443), verdict.OverPortSourceRate},
		}
		for i, s := range sends {
			now += s.advance
			if err := g.setTestNow(now); err != nil {
				t.Fatal(err)
			}
			if got := runProg(t, g, prog, s.packet); got.verdict != s.want {
				t.Fatalf("send %d: verdict %v, want %v", i, got.verdict, s.want)
			}
		}
		r, err := report(g.syncer.maps, now)
		if err != nil {
			t.Fatal(err)
		}
		var tracked int
		for _, p := range r.Ports {
			if p.Port == 8443 && p.Proto == TCP {
				tracked = p.SourcesTracked
			}
		}
		if tracked != 2 {
			t.Errorf("%d sources tracked on tcp/8443, want 2 (10.1.0.1, 10.1.0.2; the exempt one is not)", tracked)
		}
	})
}
