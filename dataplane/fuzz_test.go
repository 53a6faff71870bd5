package dataplane

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/weir-gateway/weir/dataplane/internal/pkt"
	"github.com/weir-gateway/weir/dataplane/verdict"
)

// FuzzGuardParse feeds arbitrary frames to both programs (privileged: it
// runs the real BPF parser with prog.Run). Whatever the bytes, exactly one
// counter moves, the verdict is a known one, the return code matches it,
// and tc and XDP agree.
func FuzzGuardParse(f *testing.F) {
	g := loadTestGuard(f)
	if err := g.Sync(classifyDesired); err != nil {
		f.Fatal(err)
	}
	f.Add(pkt.Eth().IPv4("10.1.2.3", "10.0.0.1").TCP(1, 80, pkt.SYN).Bytes())
	f.Add(pkt.Eth().VLAN(1).IPv6("2001:db8:2::1", "2001:db8::1").Ext(pkt.ProtoDstOpts, 1).Frag6(0, true).UDP(1, 443).QUICLong(0xc3, 1, 1200).Bytes())
	f.Add(pkt.Eth().IPv4("10.2.0.1", "10.0.0.1").Options(8).Fragment(3, true).Payload([]byte{1, 2}).Bytes())
	f.Add(make([]byte, 14))
	progs := programs(g)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 1500 {
			t.Skip("outside what prog.Run takes")
		}
		x := runProg(t, g, progs["xdp"], frame)
		if x.verdict >= verdict.Verdict(len(verdict.All())) {
			t.Fatalf("unknown verdict %d", x.verdict)
		}
		if _, err := progs["tc"].Run(&ebpf.RunOptions{Data: frame}); errors.Is(err, unix.EINVAL) {
			return // the skb test run refuses short IP headers up front
		}
		// The probe run above moved a counter; compare on a second run.
		tc := runProg(t, g, progs["tc"], frame)
		if tc.verdict != x.verdict || tc.tenant != x.tenant {
			t.Fatalf("tc says %v/%s, xdp %v/%s", tc.verdict, tc.tenant, x.verdict, x.tenant)
		}
	})
}
