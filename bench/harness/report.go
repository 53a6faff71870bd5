package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-gateway/weir/bench/hdr"
	"github.com/weir-gateway/weir/bench/loadgen"
)

// Host describes the machine and software of a run.
type Host struct {
	Name      string `json:"name"`
	Kernel    string `json:"kernel"`
	CPUModel  string `json:"cpu_model"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Nginx     string `json:"nginx,omitempty"`
	Weir      string `json:"weir,omitempty"`
}

// DetectHost fills Host from /proc and the binaries' version output.
func DetectHost(nginxBin, weirBin string) Host {
	h := Host{CPUs: OnlineCPUs(), GoVersion: runtime.Version()}
	h.Name, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	version := func(bin string, args ...string) string {
		if bin == "" {
			return ""
		}
		out, _ := exec.Command(bin, args...).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	h.Nginx = version(nginxBin, "-v")
	h.Weir = version(weirBin, "version")
	return h
}

// OnlineCPUs is the machine's CPU count from /sys (runtime.NumCPU counts
// only the CPUs this process may run on, which pinning reduces).
func OnlineCPUs() int {
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		if n, err := CPUCount(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return runtime.NumCPU()
}

// SystemInfo names and describes a system in the report.
type SystemInfo struct {
	Name string `json:"name"`
	Desc string `json:"desc"`
}

// Report is a whole benchmark run.
type Report struct {
	Started time.Time         `json:"started"`
	Host    Host              `json:"host"`
	Pinning map[string]string `json:"pinning"`
	// CPUIdle says how idle CPUs behaved during the run (see IdleHold).
	CPUIdle  string       `json:"cpu_idle,omitempty"`
	MockArgs []string     `json:"mock_args"`
	Systems  []SystemInfo `json:"systems"`
	// Runs are the rows of the tables: per system and scenario, the
	// round with the median req/s.
	Runs []*Run `json:"runs"`
	// Rounds are all the runs, every round of every scenario; the goals
	// compare the systems round by round (see goals).
	Rounds []*Run     `json:"rounds,omitempty"`
	Idle   []*IdleRun `json:"idle,omitempty"`
	// Plots are the PNG files written beside the report (WritePlots).
	Plots []string `json:"plots,omitempty"`
	Notes []string `json:"notes,omitempty"`
}

// WriteJSON writes the report with every histogram's buckets.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report json: %w", err)
	}
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e3) }

func signedUS(d time.Duration) string { return fmt.Sprintf("%+.0f", float64(d)/1e3) }

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// find returns the run of system on the scenario.
func (r *Report) find(system, scenario string) *Run {
	for _, run := range r.Runs {
		if run.System == system && run.Scenario.Name == scenario {
			return run
		}
	}
	return nil
}

func summary(h *hdr.Histogram) hdr.Summary {
	if h == nil {
		return hdr.Summary{}
	}
	return h.Summarize()
}

// WriteMarkdown writes the human report: how it was run, then one table per
// scenario with each system's throughput, latency, latency added over the
// direct run, CPU per 1,000 requests and peak memory.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# weir benchmark, %s\n\n", r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Host: %s, %d CPUs (%s), Linux %s, %s.  \n", r.Host.Name, r.Host.CPUs, r.Host.CPUModel, r.Host.Kernel, r.Host.GoVersion)
	if r.Host.Nginx != "" {
		fmt.Fprintf(&b, "nginx: %s.  \n", r.Host.Nginx)
	}
	if r.Host.Weir != "" {
		fmt.Fprintf(&b, "weir: %s.  \n", r.Host.Weir)
	}
	fmt.Fprintf(&b, "Mock upstream: `mockupstream %s`.  \n", strings.Join(r.MockArgs, " "))
	if len(r.Pinning) > 0 {
		var parts []string
		for _, role := range []string{"load", "mock", "sut", "redis"} {
			if c, ok := r.Pinning[role]; ok {
				parts = append(parts, fmt.Sprintf("%s on CPU %s", role, c))
			}
		}
		fmt.Fprintf(&b, "Pinning (taskset): %s.", strings.Join(parts, ", "))
	} else {
		b.WriteString("No CPU pinning.")
	}
	if r.CPUIdle != "" {
		fmt.Fprintf(&b, "  \nIdle CPUs: %s.", r.CPUIdle)
	}
	b.WriteString("\n\n")
	b.WriteString("Latency is measured at the load generator from when a request was due (open loop) or sent (closed loop) to the end of its body. ")
	b.WriteString("\"+p50\" is the difference to the direct run of the same scenario. CPU is the system's user+system time (its whole process tree) per 1,000 successful requests; the mock's is shown separately.\n\n")
	b.WriteString("| system | what it does |\n|---|---|\n")
	for _, s := range r.Systems {
		fmt.Fprintf(&b, "| %s | %s |\n", s.Name, s.Desc)
	}
	b.WriteString("\n")
	for _, note := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", note)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	var scenarios []Scenario
	seen := map[string]bool{}
	for _, run := range r.Runs {
		if !seen[run.Scenario.Name] {
			seen[run.Scenario.Name] = true
			scenarios = append(scenarios, run.Scenario)
		}
	}
	for _, sc := range scenarios {
		mode := "closed loop, " + clients(sc)
		if sc.Rate > 0 {
			mode = fmt.Sprintf("open loop at %.0f req/s (≤ %d in flight)", sc.Rate, sc.Concurrency)
		}
		kind := "non-streaming chat completion"
		if sc.Stream {
			kind = fmt.Sprintf("streaming chat completion, %d chunks", sc.Words)
		}
		if sc.MockOnSUT {
			mode += ", the mock on the systems' CPUs"
		}
		fmt.Fprintf(&b, "## %s\n\n%s, %d B request, %d-word reply, %s, %s, %v measured after %v warm-up.\n\n",
			sc.Name, kind, RequestSize, sc.Words, sc.Proto, mode, sc.Duration, sc.Warmup)
		direct := r.find("direct", sc.Name)
		var dl, dt hdr.Summary
		if direct != nil && direct.Load != nil {
			dl, dt = summary(direct.Load.Latency), summary(direct.Load.TTFB)
		}
		if sc.Stream {
			b.WriteString("| system | req/s | p50 µs | p99 µs | TTFB p50 | TTFB p99 | +TTFB p50 | gap p50 | gap p99 | CPU s/1k | mock CPU s/1k | peak RSS MiB | errors |\n")
			b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		} else {
			b.WriteString("| system | req/s | p50 µs | p99 µs | p99.9 µs | +p50 | +p99 | CPU s/1k | mock CPU s/1k | peak RSS MiB | errors |\n")
			b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		}
		for _, s := range r.Systems {
			run := r.find(s.Name, sc.Name)
			if run == nil {
				continue
			}
			if run.Load == nil {
				fmt.Fprintf(&b, "| %s | failed: %s |\n", s.Name, strings.ReplaceAll(run.Error, "|", "/"))
				continue
			}
			l := summary(run.Load.Latency)
			errs := fmt.Sprint(run.Load.ErrorCount())
			if len(run.Load.Errors) > 0 {
				errs = fmt.Sprintf("%v", run.Load.Errors)
			}
			if run.Error != "" {
				errs += " (" + run.Error + ")"
			}
			rss := ""
			if run.SUT != nil {
				rss = mib(run.SUT.PeakRSS)
			}
			// Differences to direct only when direct ran this scenario.
			delta := func(d time.Duration) string {
				if direct == nil || direct.Load == nil {
					return ""
				}
				return signedUS(d)
			}
			if sc.Stream {
				t, g := summary(run.Load.TTFB), summary(run.Load.EventGap)
				fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.3f | %.3f | %s | %s |\n",
					s.Name, run.Load.Throughput(), us(l.P50), us(l.P99), us(t.P50), us(t.P99), delta(t.P50-dt.P50),
					us(g.P50), us(g.P99), run.CPUPer1k(), run.MockCPUPer1k(), rss, errs)
			} else {
				fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %.3f | %.3f | %s | %s |\n",
					s.Name, run.Load.Throughput(), us(l.P50), us(l.P99), us(l.P999), delta(l.P50-dl.P50), delta(l.P99-dl.P99),
					run.CPUPer1k(), run.MockCPUPer1k(), rss, errs)
			}
		}
		b.WriteString("\n")
	}
	r.idleSection(&b)
	if len(r.Plots) > 0 {
		b.WriteString("## plots\n\n")
		for _, p := range r.Plots {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
	}
	b.WriteString(r.goals())
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) idleSection(b *strings.Builder) {
	if len(r.Idle) == 0 {
		return
	}
	fmt.Fprintf(b, "## idle streams\n\n%d streaming requests held open after their first chunk (the mock pauses them); memory of the system's process tree before and with all of them open.\n\n", r.Idle[0].Streams)
	b.WriteString("| system | open | RSS before MiB | RSS open MiB | KiB per stream | goroutines per stream | threads | errors |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, run := range r.Idle {
		g := ""
		if run.GoroutinesAfter > 0 {
			g = fmt.Sprintf("%.2f", run.GoroutinesPerStream())
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %.1f | %s | %d | %s |\n", run.System, run.Opened, mib(run.Before.RSS), mib(run.After.RSS),
			run.BytesPerStream()/1024, g, run.After.Threads, strings.ReplaceAll(run.Error, "|", "/"))
	}
	b.WriteString("\n")
}

// judge is the figure f(a, b) for a goal, where a and b are two systems'
// rows of one scenario: the median over the rounds in which both measured
// it, with those rounds' figures for the report ("; median of 3 rounds:
// x, y, z"), or f of the rows themselves when fewer than two rounds
// paired up.
func (r *Report) judge(a, b *Run, f func(a, b *Run) float64, format func(float64) string) (float64, string) {
	scenario, sys, ref := a.Scenario.Name, a.System, b.System
	pairs := map[int][2]*Run{}
	for _, run := range r.Rounds {
		if run.Scenario.Name != scenario || run.Round == 0 || run.Load == nil {
			continue
		}
		p := pairs[run.Round]
		switch run.System {
		case sys:
			p[0] = run
		case ref:
			p[1] = run
		default:
			continue
		}
		pairs[run.Round] = p
	}
	var vals []float64
	var shown []string
	for _, round := range slices.Sorted(maps.Keys(pairs)) {
		if p := pairs[round]; p[0] != nil && p[1] != nil {
			v := f(p[0], p[1])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			vals = append(vals, v)
			shown = append(shown, format(v))
		}
	}
	if len(vals) < 2 {
		return f(a, b), ""
	}
	return median(vals), fmt.Sprintf("; median of %d rounds: %s", len(vals), strings.Join(shown, ", "))
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// goals compares the runs with the targets of issue 10.
func (r *Report) goals() string {
	var b strings.Builder
	b.WriteString("## Goals\n\n")
	line := func(ok bool, format string, args ...any) {
		mark := "met"
		if !ok {
			mark = "NOT met"
		}
		fmt.Fprintf(&b, "- %s: %s\n", fmt.Sprintf(format, args...), mark)
	}
	measured := false
	// Every non-streaming scenario is judged, not one picked, HTTP/2 as
	// well as HTTP/1.1 (HTTP/3 has neither nginx nor a direct path here):
	// throughput where the load is closed loop (an open loop's rate is
	// fixed), added latency everywhere. With rounds, a figure is the
	// median of its rounds, each comparing systems measured minutes apart
	// at most; the machine's speed drifts more than that between rounds.
	for _, full := range r.Runs {
		sc := full.Scenario
		if full.System != "weir-full" || sc.Stream || full.Load == nil {
			continue
		}
		nginx, direct := r.find("nginx", sc.Name), r.find("direct", sc.Name)
		if sc.Rate == 0 && nginx != nil && nginx.Load != nil && nginx.Load.Throughput() > 0 {
			ratio := func(a, b *Run) float64 { return a.Load.Throughput() / b.Load.Throughput() }
			v, rounds := r.judge(full, nginx, ratio, func(x float64) string { return sharp(x, 0.8, 2) })
			line(v >= 0.8, "%s: weir-full sustains %s× nginx's requests/s (goal ≥ 0.8×%s)", sc.Name, sharp(v, 0.8, 2), rounds)
			measured = true
		}
		if direct != nil && direct.Load != nil {
			added := func(a, b *Run) float64 {
				return float64(a.Load.Latency.Quantile(0.5)-b.Load.Latency.Quantile(0.5)) / 1e3
			}
			format := func(x float64) string {
				s := sharp(x, 100, 0)
				if x >= 0 {
					s = "+" + s
				}
				return s
			}
			v, rounds := r.judge(full, direct, added, format)
			also := ""
			if nginx != nil && nginx.Load != nil {
				nv, nrounds := r.judge(nginx, direct, added, format)
				also = fmt.Sprintf("; nginx adds %.0f µs%s", nv, nrounds)
			}
			line(v < 100, "%s: weir-full adds %s µs p50 over direct (goal < 100 µs%s%s)", sc.Name, sharp(v, 100, 0), rounds, also)
			measured = true
		}
	}
	for _, run := range r.Runs {
		if run.System != "weir-full" || !run.Scenario.Stream || run.Load == nil || run.Load.TTFB == nil {
			continue
		}
		direct := r.find("direct", run.Scenario.Name)
		if direct == nil || direct.Load == nil || direct.Load.TTFB == nil {
			continue
		}
		added := run.Load.TTFB.Quantile(0.5) - direct.Load.TTFB.Quantile(0.5)
		line(added < time.Millisecond, "%s: weir-full adds %s µs to time to first byte (goal < 1 ms)", run.Scenario.Name, us(added))
		measured = true
	}
	for _, run := range r.Idle {
		if run.System == "weir-full" && run.Opened > 0 {
			kib := run.BytesPerStream() / 1024
			if run.Opened < 9500 {
				// A few hundred streams fit in heap the process already has.
				fmt.Fprintf(&b, "- %d idle streams cost weir-full %.1f KiB each: too few to judge the goal (< 40 KiB at 10,000)\n", run.Opened, kib)
				continue
			}
			line(kib < 40 && run.Opened == run.Streams, "%d idle streams cost weir-full %.1f KiB each (goal < 40 KiB at 10,000)", run.Opened, kib)
			measured = true
		}
	}
	if !measured {
		b.WriteString("- not measured in this run (needs the direct, nginx and weir-full systems)\n")
	}
	return b.String()
}

// clients says how the closed loop's workers reach a system: over
// HTTP/1.1 each has a connection; over HTTP/2 and HTTP/3 the client
// multiplexes them all as streams of one connection, as an SDK does.
func clients(sc Scenario) string {
	switch {
	case sc.Proto != "" && sc.Proto != loadgen.HTTP1:
		return fmt.Sprintf("%d concurrent requests on one connection", sc.Concurrency)
	case sc.Concurrency == 1:
		return "1 connection"
	}
	return fmt.Sprintf("%d connections", sc.Concurrency)
}

// sharp formats x with prec decimals, or more where prec would print a
// figure on either side of goal as the goal itself ("0.80× ... NOT met"
// for 0.795).
func sharp(x, goal float64, prec int) string {
	for ; prec < 6; prec++ {
		s := strconv.FormatFloat(x, 'f', prec, 64)
		if x == goal || s != strconv.FormatFloat(goal, 'f', prec, 64) {
			return s
		}
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}
