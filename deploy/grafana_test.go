package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/verdict"
	"github.com/weir-gateway/weir/userspace/metrics"
	"github.com/weir-gateway/weir/userspace/ratelimit"
)

const dashboardFile = "grafana/weir-dashboard.json"

// metricDoc is one row of the metrics table in docs/operations.md.
type metricDoc struct {
	kind   string // counter, gauge, histogram
	labels []string
}

// documentedMetrics reads the table headed "Metric" in operations.md:
// | `name` | type | `label`, `label` | meaning |.
func documentedMetrics(t *testing.T) map[string]metricDoc {
	t.Helper()
	out := map[string]metricDoc{}
	for _, row := range markdownTable(t, "Metric") {
		if len(row) < 3 {
			t.Fatalf("metrics table row %v has fewer than 3 cells", row)
		}
		name := strings.Trim(row[0], "`")
		d := metricDoc{kind: row[1]}
		for _, l := range strings.Split(row[2], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" && l != "—" {
				d.labels = append(d.labels, l)
			}
		}
		sort.Strings(d.labels)
		if !slices.Contains([]string{"counter", "gauge", "histogram"}, d.kind) {
			t.Errorf("metric %s: type %q is not counter, gauge or histogram", name, d.kind)
		}
		out[name] = d
	}
	return out
}

// targetLabels are added by Prometheus (instance, job) and by the
// ServiceMonitor's relabeling (node), not by weir.
var targetLabels = []string{"instance", "job", "node"}

var (
	metricName     = regexp.MustCompile(`\b((?:gen_ai|weir)_[a-z0-9_]+)\b`)
	byClause       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	matcher        = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	selector       = regexp.MustCompile(`\{([^{}]*)\}`)
	verdictMatcher = regexp.MustCompile(`verdict\s*(?:=~|!~|!=|=)\s*"([^"]*)"`)
	legendLabel    = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// query is one PromQL expression of the dashboard with its legend.
type query struct{ where, expr, legend string }

// dashboardQueries walks the dashboard JSON for every expression: panel
// targets (rows nest panels) and templating queries.
func dashboardQueries(t *testing.T, data []byte) []query {
	t.Helper()
	var dash struct {
		Title      string            `json:"title"`
		UID        string            `json:"uid"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("dashboard has no title or uid")
	}
	type panel struct {
		ID      int               `json:"id"`
		Title   string            `json:"title"`
		Type    string            `json:"type"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	}
	var qs []query
	ids := map[int]bool{}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("panel: %v", err)
			}
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			for _, tg := range p.Targets {
				qs = append(qs, query{where: "panel " + p.Title, expr: tg.Expr, legend: tg.LegendFormat})
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			qs = append(qs, query{where: "variable " + v.Name, expr: v.Definition})
		}
	}
	return qs
}

// checkQueries returns a message per metric the dashboard queries that is
// not documented, and per label it uses that its metrics do not carry.
func checkQueries(qs []query, docs map[string]metricDoc) []string {
	var problems []string
	for _, q := range qs {
		allowed := slices.Clone(targetLabels)
		found := 0
		// Label names (in by/without clauses and selectors) may also start
		// with gen_ai_: look for metric names outside them.
		bare := byClause.ReplaceAllString(q.expr, " ")
		bare = selector.ReplaceAllString(bare, " ")
		for _, m := range metricName.FindAllString(bare, -1) {
			base, suffix := m, ""
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, s); ok {
					if d, known := docs[b]; known && d.kind == "histogram" {
						base, suffix = b, s
					}
				}
			}
			d, ok := docs[base]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s is not in the documented metrics", q.where, m))
				continue
			}
			found++
			allowed = append(allowed, d.labels...)
			if suffix == "_bucket" {
				allowed = append(allowed, "le")
			}
		}
		if found == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q queries no weir metric", q.where, q.expr))
			continue
		}
		var used []string
		for _, m := range byClause.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					used = append(used, l)
				}
			}
		}
		for _, sel := range selector.FindAllStringSubmatch(q.expr, -1) {
			for _, m := range matcher.FindAllStringSubmatch(sel[1], -1) {
				used = append(used, m[1])
			}
		}
		for _, m := range legendLabel.FindAllStringSubmatch(q.legend, -1) {
			used = append(used, m[1])
		}
		for _, l := range used {
			if !slices.Contains(allowed, l) {
				problems = append(problems, fmt.Sprintf("%s: label %q is on none of the metrics of %q", q.where, l, q.expr))
			}
		}
	}
	return problems
}

func TestDashboardQueriesDocumentedMetrics(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	docs := documentedMetrics(t)
	qs := dashboardQueries(t, data)
	for _, p := range checkQueries(qs, docs) {
		t.Error(p)
	}
	// Verdict label values must be ones the guard exports.
	known := map[string]bool{}
	for _, v := range verdict.All() {
		known[v.String()] = true
	}
	for _, q := range qs {
		for _, m := range verdictMatcher.FindAllStringSubmatch(q.expr, -1) {
			for _, v := range strings.Split(m[1], "|") {
				if !known[v] {
					t.Errorf("%s: verdict %q is not one the guard exports (%v)", q.where, v, keys(known))
				}
			}
		}
	}
	// What the dashboard must show (issue 9): each of these metrics is queried.
	for _, m := range []string{
		"weir_requests_total", "gen_ai_server_request_duration_seconds", "gen_ai_server_time_to_first_token_seconds",
		"gen_ai_client_token_usage", "weir_retries_total", "weir_upstream_healthy", "weir_ratelimit_rejections_total",
		"weir_dataplane_packets_total", "weir_config_last_reload_success",
	} {
		if !slices.ContainsFunc(qs, func(q query) bool {
			return regexp.MustCompile(`\b` + m + `(_bucket|_sum|_count)?\b`).MatchString(q.expr)
		}) {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}

func TestCheckQueriesCatches(t *testing.T) {
	docs := map[string]metricDoc{
		"weir_requests_total":                    {kind: "counter", labels: []string{"code"}},
		"gen_ai_server_request_duration_seconds": {kind: "histogram", labels: []string{"gen_ai_provider_name"}},
	}
	cases := map[string]query{
		"undocumented metric": {expr: `rate(weir_nope_total[5m])`},
		"label not on metric": {expr: `sum by (tenant) (rate(weir_requests_total[5m]))`},
		"bad matcher":         {expr: `rate(weir_requests_total{verdict="x"}[5m])`},
		"bad legend":          {expr: `rate(weir_requests_total[5m])`, legend: "{{provider}}"},
		"le off a _sum":       {expr: `sum by (le) (rate(gen_ai_server_request_duration_seconds_sum[5m]))`},
		"no weir metric":      {expr: `up`},
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			if p := checkQueries([]query{q}, docs); len(p) == 0 {
				t.Errorf("checkQueries accepted %q", q.expr)
			}
		})
	}
	ok := query{expr: `histogram_quantile(0.99, sum by (le, gen_ai_provider_name) (rate(gen_ai_server_request_duration_seconds_bucket{instance=~"$instance"}[5m])))`, legend: "{{gen_ai_provider_name}}"}
	if p := checkQueries([]query{ok}, docs); len(p) > 0 {
		t.Errorf("checkQueries rejected a good query: %v", p)
	}
}

// TestRegisteredMetricsAreDocumented keeps the docs' metric table in step
// with what the agent registers: same names, same labels.
func TestRegisteredMetricsAreDocumented(t *testing.T) {
	docs := documentedMetrics(t)
	m := metrics.New(prometheus.NewPedanticRegistry())
	collectors := []prometheus.Collector{m.Requests, m.RequestDuration, m.TimeToFirstToken, m.TimePerToken, m.TokenUsage,
		m.Overhead, m.Retries, m.UpstreamHealthy, m.ReloadSuccess, m.ReloadTimestamp, m.InFlight}
	collectors = append(collectors, ratelimit.NewMetrics().Collectors()...)
	collectors = append(collectors, counters.NewCollector(nil, nil, nil))
	descs := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range collectors {
			c.Describe(descs)
		}
		close(descs)
	}()
	descRe := regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)
	n := 0
	for d := range descs {
		sm := descRe.FindStringSubmatch(d.String())
		if sm == nil {
			t.Fatalf("cannot read %s", d)
		}
		n++
		var labels []string
		for _, l := range strings.Split(sm[2], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		doc, ok := docs[sm[1]]
		if !ok {
			t.Errorf("registered metric %s is not in the metrics table of %s", sm[1], operationsDoc)
			continue
		}
		if !slices.Equal(doc.labels, labels) {
			t.Errorf("metric %s: documented labels %v, registered %v", sm[1], doc.labels, labels)
		}
	}
	if n == 0 {
		t.Fatal("no metric descriptions read")
	}
}
