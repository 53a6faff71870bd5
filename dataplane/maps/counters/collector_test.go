package counters_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-gateway/weir/dataplane/internal/memmaps"
	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
	"github.com/weir-gateway/weir/dataplane/verdict"
)

func setup() (*memmaps.Counters, *memmaps.Tenants) {
	c, tn := &memmaps.Counters{}, &memmaps.Tenants{}
	tn.Put(tenants.Default, tenants.Tenant{Name: tenants.DefaultName})
	tn.Put(1, tenants.Tenant{Name: "team-a"})
	c.Add(counters.Key{Tenant: 1, Verdict: verdict.Pass}, 10, 1000)
	c.Add(counters.Key{Tenant: 1, Verdict: verdict.OverConnRate}, 4, 240)
	c.Add(counters.Key{Tenant: tenants.Default, Verdict: verdict.PassNotIP}, 2, 84)
	c.Add(counters.Key{Tenant: 9, Verdict: verdict.Denied}, 1, 60) // tenant removed meanwhile
	return c, tn
}

func TestCollector(t *testing.T) {
	c, tn := setup()
	col := counters.NewCollector(c, tn, nil)
	want := `
# HELP weir_dataplane_packets_total Packets seen by the kernel guard, by tenant and verdict.
# TYPE weir_dataplane_packets_total counter
weir_dataplane_packets_total{tenant="(default)",verdict="pass_not_ip"} 2
weir_dataplane_packets_total{tenant="id_9",verdict="denied"} 1
weir_dataplane_packets_total{tenant="team-a",verdict="over_conn_rate"} 4
weir_dataplane_packets_total{tenant="team-a",verdict="pass"} 10
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "weir_dataplane_packets_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(col, "weir_dataplane_bytes_total"); n != 4 {
		t.Errorf("%d byte series, want 4", n)
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestCollectorEmitsNothingOnError: a half-read map must not look like a
// counter reset to Prometheus.
func TestCollectorEmitsNothingOnError(t *testing.T) {
	for _, broken := range []string{"counters", "tenants"} {
		t.Run(broken, func(t *testing.T) {
			c, tn := setup()
			boom := errors.New("map gone")
			if broken == "counters" {
				c.SetErr(boom)
			} else {
				tn.SetErr(boom)
			}
			var reported error
			col := counters.NewCollector(c, tn, func(err error) { reported = err })
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(col)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if len(mfs) != 0 {
				t.Errorf("emitted %d families on error", len(mfs))
			}
			if !errors.Is(reported, boom) {
				t.Errorf("error reported: %v", reported)
			}
		})
	}
}
