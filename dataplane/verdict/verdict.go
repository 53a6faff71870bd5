// Package verdict names the guard's verdict reasons. The numbers come from
// enum weir_verdict in bpf/lib/weir.h through bpf2go, so C and Go share one
// definition; a number is never reused (testdata/verdicts.golden pins them).
package verdict

import (
	"strconv"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
)

// Verdict is why the guard passed or dropped a packet.
type Verdict uint32

// The verdict reasons, in the numbering of enum weir_verdict.
const (
	Pass           = Verdict(guardbpf.GuardWeirVerdictWEIR_PASS)
	OverPacketRate = Verdict(guardbpf.GuardWeirVerdictWEIR_OVER_PACKET_RATE)
	OverConnRate   = Verdict(guardbpf.GuardWeirVerdictWEIR_OVER_CONN_RATE)
	OverSourceRate = Verdict(guardbpf.GuardWeirVerdictWEIR_OVER_SOURCE_RATE)
	Denied         = Verdict(guardbpf.GuardWeirVerdictWEIR_DENIED)
	Blocked        = Verdict(guardbpf.GuardWeirVerdictWEIR_BLOCKED)
	Malformed      = Verdict(guardbpf.GuardWeirVerdictWEIR_MALFORMED)
	PassNotIP      = Verdict(guardbpf.GuardWeirVerdictWEIR_PASS_NOT_IP)
	// PortDenied: every route served on the destination port refuses the
	// source (allow_sources / deny_sources of plain routes).
	PortDenied = Verdict(guardbpf.GuardWeirVerdictWEIR_PORT_DENIED)
	// OverPortSourceRate: the source opens connections to the port faster
	// than any route there would take its requests (limits rps / rpm).
	OverPortSourceRate = Verdict(guardbpf.GuardWeirVerdictWEIR_OVER_PORT_SOURCE_RATE)

	// max is the first unused number (WEIR_VERDICT_MAX).
	max = Verdict(guardbpf.GuardWeirVerdictWEIR_VERDICT_MAX)
)

var names = [...]string{
	Pass:               "pass",
	OverPacketRate:     "over_packet_rate",
	OverConnRate:       "over_conn_rate",
	OverSourceRate:     "over_source_rate",
	Denied:             "denied",
	Blocked:            "blocked",
	Malformed:          "malformed",
	PassNotIP:          "pass_not_ip",
	PortDenied:         "port_denied",
	OverPortSourceRate: "over_port_source_rate",
}

// The array above must have exactly one name per C enumerator: this fails to
// compile when weir.h gains a reason that has no name here.
var _ = [1]struct{}{}[len(names)-int(max)]

// String returns the metric label of v ("pass", "over_conn_rate", ...), or
// "unknown_<n>" for a number this build does not know (a newer program).
func (v Verdict) String() string {
	if v < max {
		return names[v]
	}
	return "unknown_" + strconv.FormatUint(uint64(v), 10)
}

// Drops reports whether the guard drops packets with this verdict; it
// mirrors weir_verdict_drops in bpf/lib/guard.h.
func (v Verdict) Drops() bool {
	switch v {
	case OverPacketRate, OverConnRate, OverSourceRate, Denied, Blocked, Malformed, PortDenied, OverPortSourceRate:
		return true
	}
	return false
}

// All returns every known verdict in numeric order.
func All() []Verdict {
	out := make([]Verdict, 0, max)
	for v := Verdict(0); v < max; v++ {
		out = append(out, v)
	}
	return out
}
