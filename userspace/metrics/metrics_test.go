package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
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
