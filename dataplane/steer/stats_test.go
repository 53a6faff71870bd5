package steer

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	c := &collector{read: func() ([]ListenerStats, error) {
		return []ListenerStats{
			{Slot: 0, Listener: "public", Socket: true, Steered: 12, MissNoSocket: 1},
			{Slot: 1, Listener: "team-a", MissAssign: 2},
		}, nil
	}}
	want := `
# HELP weir_dataplane_steer_misses_total TCP connections a steering rule chose a listener for that the kernel could not hand to it (reason no_socket: none registered; assign: the socket was refused); they fall through to the normal socket lookup.
# TYPE weir_dataplane_steer_misses_total counter
weir_dataplane_steer_misses_total{listener="public",reason="assign"} 0
weir_dataplane_steer_misses_total{listener="public",reason="no_socket"} 1
weir_dataplane_steer_misses_total{listener="team-a",reason="assign"} 2
weir_dataplane_steer_misses_total{listener="team-a",reason="no_socket"} 0
# HELP weir_dataplane_steered_total TCP connection lookups (SYNs, retransmissions included) the kernel steered with sk_lookup to a listener's socket.
# TYPE weir_dataplane_steered_total counter
weir_dataplane_steered_total{listener="public"} 12
weir_dataplane_steered_total{listener="team-a"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %+v", err, problems)
	}
}

// TestCollectorReadError: an unreadable map yields no series at all, not
// partial ones, and the error is reported.
func TestCollectorReadError(t *testing.T) {
	var got error
	c := &collector{read: func() ([]ListenerStats, error) { return nil, errors.New("map gone") }, onError: func(err error) { got = err }}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("%d series from a failed read", n)
	}
	if got == nil || got.Error() != "map gone" {
		t.Fatalf("onError got %v", got)
	}
}
