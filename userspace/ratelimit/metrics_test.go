package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/weir-gateway/weir/userspace/ratelimit/redistest"
)

func TestMetricNamesLint(t *testing.T) {
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	// Touch every vector so it is exported.
	m.Rejections.WithLabelValues("t", RequestsPerMinute).Inc()
	m.Remaining.WithLabelValues("t", RequestsPerMinute).Set(1)
	m.RedisDuration.WithLabelValues("reserve").Observe(0.001)
	m.RedisErrors.WithLabelValues("reserve").Inc()
	m.Degraded.WithLabelValues("allow").Inc()
	m.KernelBlocks.WithLabelValues("t", "ok").Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestMetricsRecordDecisions(t *testing.T) {
	m := NewMetrics()
	l := NewLocal(WithMetrics(m))
	r := Request{Tenant: "team-a", Limits: Limits{RequestsPerMinute: 2, TokensPerMinute: 1000}, Tokens: 300}
	for range 3 {
		mustReserve(t, l, r)
	}
	if got := testutil.ToFloat64(m.Rejections.WithLabelValues("team-a", RequestsPerMinute)); got != 1 {
		t.Fatalf("rejections = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Remaining.WithLabelValues("team-a", TokensPerMinute)); got != 400 {
		t.Fatalf("remaining tokens = %v, want 400", got)
	}
	m.Forget("team-a")
	if n := testutil.CollectAndCount(m.Rejections); n != 0 {
		t.Fatalf("%d rejection series after Forget", n)
	}
}

func TestMetricsRecordRedis(t *testing.T) {
	srv := redistest.Start(t)
	m := NewMetrics()
	l, err := NewRedis(RedisOptions{Address: srv.Addr, OnError: OnErrorDeny, Timeout: 3 * time.Second}, WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := Request{Tenant: "t", Limits: Limits{ConcurrentRequests: 3}}
	res, _ := mustReserve(t, l, r)
	res.Settle(ctx, 0)
	flush(t, l)
	srv.Kill()
	_, d, _ := l.Reserve(ctx, r)
	_ = l.Close()
	if !d.Degraded || d.Allowed {
		t.Fatalf("%+v, want a degraded deny", d)
	}
	if n := testutil.CollectAndCount(m.RedisDuration); n != 2 {
		t.Fatalf("redis latency series = %d, want reserve and settle", n)
	}
	if got := testutil.ToFloat64(m.RedisErrors.WithLabelValues("reserve")); got != 1 {
		t.Fatalf("reserve errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Degraded.WithLabelValues("deny")); got != 1 {
		t.Fatalf("degraded denies = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Rejections.WithLabelValues("t", BackendUnavailable)); got != 1 {
		t.Fatalf("backend_unavailable rejections = %v, want 1", got)
	}
}
