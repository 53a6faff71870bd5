package ratelimit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the limiter's Prometheus collectors. Labels are bounded by the
// configuration: tenant names, limit names, and a fixed set of operations.
// Create one per process and pass it to every limiter with WithMetrics; a nil
// *Metrics records nothing.
type Metrics struct {
	// Rejections counts denied requests by tenant and limit (including
	// backend_unavailable).
	Rejections *prometheus.CounterVec
	// Remaining is the budget a tenant's own limits had left after its last
	// request, by limit.
	Remaining *prometheus.GaugeVec
	// RedisDuration is the latency of Redis calls by op (reserve, settle).
	RedisDuration *prometheus.HistogramVec
	// RedisErrors counts failed Redis calls by op.
	RedisErrors *prometheus.CounterVec
	// Degraded counts decisions taken by on_redis_error, by decision (allow|deny).
	Degraded *prometheus.CounterVec
	// SettlesDropped counts settlements that could not be sent to Redis
	// (queue full or backend down); their concurrency leases expire instead.
	SettlesDropped prometheus.Counter
	// KernelBlocks counts tenants reported to the kernel guard, by result (ok|error).
	KernelBlocks *prometheus.CounterVec
}

// NewMetrics creates the collectors; register them with Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_ratelimit_rejections_total",
			Help: "Requests denied by an L7 limit, by tenant and limit.",
		}, []string{"tenant", "limit"}),
		Remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_ratelimit_remaining",
			Help: "Budget left in a tenant's own limit after its last request (requests, tokens or concurrent slots).",
		}, []string{"tenant", "limit"}),
		RedisDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weir_ratelimit_redis_duration_seconds",
			Help:    "Latency of rate limit calls to Redis, by operation.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}, []string{"op"}),
		RedisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_ratelimit_redis_errors_total",
			Help: "Rate limit calls to Redis that failed, by operation.",
		}, []string{"op"}),
		Degraded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_ratelimit_degraded_decisions_total",
			Help: "Requests decided by on_redis_error because Redis was unreachable, by decision.",
		}, []string{"decision"}),
		SettlesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_ratelimit_settles_dropped_total",
			Help: "Settlements not applied in Redis (queue full or Redis unreachable).",
		}),
		KernelBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_ratelimit_kernel_blocks_total",
			Help: "Tenants reported to the kernel guard after repeated rejections, by tenant and result.",
		}, []string{"tenant", "result"}),
	}
}

// Collectors returns every collector, for prometheus.Registerer.MustRegister.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Rejections, m.Remaining, m.RedisDuration, m.RedisErrors,
		m.Degraded, m.SettlesDropped, m.KernelBlocks}
}

// Forget removes a tenant's series, for a tenant dropped by a reload.
func (m *Metrics) Forget(tenant string) {
	if m == nil {
		return
	}
	m.Rejections.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
	m.Remaining.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
	m.KernelBlocks.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
}

func (m *Metrics) decision(p *plan, d *Decision, rem *[maxChecks]int64) {
	if m == nil {
		return
	}
	if !d.Allowed {
		m.Rejections.WithLabelValues(d.Tenant, d.Limit).Inc()
	}
	for i := 0; i < p.n; i++ {
		if p.checks[i].scope == scopeTenant {
			m.Remaining.WithLabelValues(d.Tenant, kindNames[p.checks[i].kind]).Set(float64(rem[i]))
		}
	}
}

// rejected counts a denial decided without fresh budget numbers.
func (m *Metrics) rejected(d *Decision) {
	if m != nil {
		m.Rejections.WithLabelValues(d.Tenant, d.Limit).Inc()
	}
}

func (m *Metrics) redis(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.RedisDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.RedisErrors.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) degraded(d *Decision) {
	if m == nil {
		return
	}
	v := "deny"
	if d.Allowed {
		v = "allow"
	} else {
		m.rejected(d)
	}
	m.Degraded.WithLabelValues(v).Inc()
}

func (m *Metrics) settleDropped(n int) {
	if m == nil {
		return
	}
	m.SettlesDropped.Add(float64(n))
}

func (m *Metrics) kernelBlock(tenant string, err error) {
	if m == nil {
		return
	}
	res := "ok"
	if err != nil {
		res = "error"
	}
	m.KernelBlocks.WithLabelValues(tenant, res).Inc()
}
