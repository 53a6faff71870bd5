package metrics

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// TestLint runs promlint over every metric weir's request path registers.
func TestLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	// Touch every vector so it is gathered.
	m.Requests.WithLabelValues("a", "r", "p", "200", "h1").Inc()
	m.RequestDuration.WithLabelValues("chat", "p", "m", "").Observe(1)
	m.TimeToFirstToken.WithLabelValues("chat", "p", "m").Observe(1)
	m.TimePerToken.WithLabelValues("chat", "p", "m").Observe(1)
	m.TokenUsage.WithLabelValues("chat", "p", "m", "input", "t").Observe(1)
	m.Overhead.WithLabelValues("a").Observe(1)
	m.Retries.WithLabelValues("p", "5xx").Inc()
	m.UpstreamHealthy.WithLabelValues("p", "m").Set(1)
	problems := Lint(t, reg)
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// Lint gathers reg and returns promlint's problems; other packages' tests use it too.
func Lint(t testing.TB, g prometheus.Gatherer) []promlint.Problem {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	if len(mfs) == 0 {
		t.Fatal("nothing gathered")
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// TestRequestSeries checks the cached series record into the vectors' own
// children, that token series appear only once tokens are observed, and
// that label sets beyond the cache's bound still record correctly.
func TestRequestSeries(t *testing.T) {
	m := New(prometheus.NewRegistry())
	l := RequestLabels{API: "openai.chat_completions", Operation: "chat", Route: "r", Provider: "p", Code: "200", Protocol: "h1", Tenant: "t"}
	s := m.Request(l)
	if m.Request(l) != s {
		t.Error("the same labels gave a second series")
	}
	s.Requests.Inc()
	s.Duration.Observe(0.5)
	s.Overhead.Observe(0.001)
	if got := testutil.ToFloat64(m.Requests.WithLabelValues(l.API, l.Route, l.Provider, l.Code, l.Protocol)); got != 1 {
		t.Errorf("requests %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.RequestDuration); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
	if n := testutil.CollectAndCount(m.TokenUsage); n != 0 {
		t.Fatalf("%d token series before any tokens, want 0", n)
	}
	s.InputTokens().Observe(10)
	s.InputTokens().Observe(20)
	if n := testutil.CollectAndCount(m.TokenUsage); n != 1 {
		t.Errorf("%d token series after input tokens, want 1", n)
	}
	var d dto.Metric
	if err := m.TokenUsage.WithLabelValues("chat", "p", "r", "input", "t").(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	if h := d.GetHistogram(); h.GetSampleCount() != 2 || h.GetSampleSum() != 30 {
		t.Errorf("input tokens: %d samples summing to %v, want 2 and 30", h.GetSampleCount(), h.GetSampleSum())
	}
	s.OutputTokens().Observe(5)
	if n := testutil.CollectAndCount(m.TokenUsage); n != 2 {
		t.Errorf("%d token series after output tokens, want 2", n)
	}

	// Past the bound: not cached, still counted.
	for i := range maxCachedSeries + 10 {
		l := l
		l.Code = strconv.Itoa(i)
		m.Request(l).Requests.Inc()
	}
	if len(m.series) != maxCachedSeries {
		t.Errorf("%d cached series, want the bound %d", len(m.series), maxCachedSeries)
	}
	far := l
	far.Code = strconv.Itoa(maxCachedSeries + 5)
	m.Request(far).Requests.Inc()
	if got := testutil.ToFloat64(m.Requests.WithLabelValues(far.API, far.Route, far.Provider, far.Code, far.Protocol)); got != 2 {
		t.Errorf("uncached series counted %v, want 2", got)
	}
}
