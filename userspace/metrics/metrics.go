// Package metrics defines weir's request metrics: the OpenTelemetry GenAI
// names as Prometheus sees them plus weir_*. Every label is bounded by the
// configuration (route names, provider names, tenant names), never by what a
// client sends.
package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the request-path collectors.
type Metrics struct {
	Requests         *prometheus.CounterVec
	RequestDuration  *prometheus.HistogramVec
	TimeToFirstToken *prometheus.HistogramVec
	TimePerToken     *prometheus.HistogramVec
	TokenUsage       *prometheus.HistogramVec
	Overhead         *prometheus.HistogramVec
	Retries          *prometheus.CounterVec
	UpstreamHealthy  *prometheus.GaugeVec
	ReloadSuccess    prometheus.Gauge
	ReloadTimestamp  prometheus.Gauge
	InFlight         prometheus.Gauge

	// series caches the children of RequestSeries by label set.
	mu     sync.RWMutex
	series map[RequestLabels]*RequestSeries
}

// maxCachedSeries bounds the RequestSeries cache; label sets beyond it are
// looked up in the collectors every time.
const maxCachedSeries = 4096

// RequestLabels are the label values of one finished request's metrics.
type RequestLabels struct {
	API, Operation, Route, Provider, Code, Protocol, ErrorType, Tenant string
}

// RequestSeries are the metrics every finished request of one label set
// records. Looking a child up in a vector hashes every label value and
// takes a lock; a request finds its series with one map lookup instead.
// The token-usage children are made on first use, so a label set that never
// counts tokens (errors) adds no token series, as before.
type RequestSeries struct {
	Requests prometheus.Counter
	Duration prometheus.Observer
	Overhead prometheus.Observer

	tokens        *prometheus.HistogramVec
	labels        RequestLabels
	input, output atomic.Pointer[prometheus.Observer]
}

// InputTokens observes the request's input token count.
func (s *RequestSeries) InputTokens() prometheus.Observer { return s.tokenChild(&s.input, "input") }

// OutputTokens observes the request's output token count.
func (s *RequestSeries) OutputTokens() prometheus.Observer { return s.tokenChild(&s.output, "output") }

func (s *RequestSeries) tokenChild(p *atomic.Pointer[prometheus.Observer], kind string) prometheus.Observer {
	if o := p.Load(); o != nil {
		return *o
	}
	l := s.labels
	// Two requests racing here get the same child from the vector.
	o := s.tokens.WithLabelValues(l.Operation, l.Provider, l.Route, kind, l.Tenant)
	p.Store(&o)
	return o
}

// Request returns the series of label set l, from the cache when it is
// there.
func (m *Metrics) Request(l RequestLabels) *RequestSeries {
	m.mu.RLock()
	s := m.series[l]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	s = &RequestSeries{
		Requests: m.Requests.WithLabelValues(l.API, l.Route, l.Provider, l.Code, l.Protocol),
		Duration: m.RequestDuration.WithLabelValues(l.Operation, l.Provider, l.Route, l.ErrorType),
		Overhead: m.Overhead.WithLabelValues(l.API),
		tokens:   m.TokenUsage,
		labels:   l,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.series[l]; old != nil {
		return old
	}
	if len(m.series) < maxCachedSeries {
		if m.series == nil {
			m.series = map[RequestLabels]*RequestSeries{}
		}
		m.series[l] = s
	}
	return s
}

// Label values used when a request ended before the value was known.
const (
	None = "none"
)

// New creates and registers the collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	durBuckets := []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_requests_total",
			Help: "Client requests by API, route, provider that answered, status code and protocol.",
		}, []string{"api", "route", "provider", "code", "protocol"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_server_request_duration_seconds",
			Help:    "Time from receiving a GenAI request to sending the last byte of its answer.",
			Buckets: durBuckets,
		}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"}),
		TimeToFirstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_server_time_to_first_token_seconds",
			Help:    "Time from receiving a streaming request to sending its first content chunk.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10},
		}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}),
		TimePerToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_server_time_per_output_token_seconds",
			Help:    "Time per output token after the first, for streaming requests.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5},
		}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}),
		TokenUsage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_client_token_usage",
			Help:    "Tokens used per request, by token type (input or output) and tenant.",
			Buckets: []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864},
		}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type", "tenant"}),
		Overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weir_gateway_overhead_seconds",
			Help:    "Time a request spent in weir itself: total time minus time waiting on upstreams and retry backoff.",
			Buckets: []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1},
		}, []string{"api"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_retries_total",
			Help: "Upstream attempts that failed and were retried, by provider and reason.",
		}, []string{"provider", "reason"}),
		UpstreamHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_upstream_healthy",
			Help: "1 when an upstream target's circuit is closed, 0 while it is open.",
		}, []string{"provider", "model"}),
		ReloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_config_last_reload_success",
			Help: "1 if the last configuration load succeeded, 0 if it failed and the previous config is still serving.",
		}),
		ReloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_requests_in_flight",
			Help: "Client requests being served now.",
		}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.TimeToFirstToken, m.TimePerToken, m.TokenUsage,
		m.Overhead, m.Retries, m.UpstreamHealthy, m.ReloadSuccess, m.ReloadTimestamp, m.InFlight)
	return m
}
