package harness

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/weir-gateway/weir/bench/loadgen"
	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/bench/procstat"
)

// Scenario is one load shape, run the same way against every system.
type Scenario struct {
	Name string `json:"name"`
	// Stream asks for SSE (with stream_options.include_usage).
	Stream bool `json:"stream"`
	// Words is the reply length in words (sent as max_tokens; the mock streams
	// one word per chunk, so it is also the stream's chunk count).
	Words int    `json:"words"`
	Proto string `json:"proto"`
	// Concurrency is the closed-loop workers, or the open-loop in-flight bound.
	Concurrency int `json:"concurrency"`
	// Rate, when set, makes the scenario open loop at this many requests/s.
	Rate     float64       `json:"rate,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	// MockOnSUT runs the mock upstream on the systems' CPUs for this
	// scenario (when both are pinned). The direct path then crosses between
	// CPUs as often as a proxied one, twice per request, so the added
	// latency is the proxy's own work; with the mock beside the load
	// generator a proxied request crosses four times more, and on a VM
	// each cross-CPU wake-up costs tens of microseconds that no proxy can
	// save.
	MockOnSUT bool `json:"mock_on_sut,omitempty"`
}

// RequestSize is the size of a scenario's request body.
const RequestSize = 1024

// Body is the scenario's chat completion request, RequestSize bytes long.
func (sc Scenario) Body() []byte {
	build := func(pad int) []byte {
		m := map[string]any{
			"model":      BenchModel,
			"max_tokens": sc.Words,
			"messages": []map[string]string{
				{"role": "system", "content": "You are a terse assistant."},
				{"role": "user", "content": strings.Repeat("lorem ipsum ", 200)[:pad]},
			},
		}
		if sc.Stream {
			m["stream"] = true
			m["stream_options"] = map[string]bool{"include_usage": true}
		}
		b, _ := json.Marshal(m)
		return b
	}
	base := len(build(0))
	return build(max(0, RequestSize-base))
}

// DefaultScenarios are the report's scenarios: non-streaming chat at three
// concurrencies (throughput vs concurrency), one at a time again with the
// mock on the systems' CPUs (added latency without the extra cross-CPU
// wake-ups), at a fixed rate (latency without coordinated omission), over HTTP/2 (h2c) and HTTP/3, and streams of 20
// and 200 chunks. Only weir speaks HTTP/3 here: the mock has no QUIC
// listener and Debian's nginx 1.22 no http3 module.
func DefaultScenarios(d, warmup time.Duration, rate float64) []Scenario {
	return []Scenario{
		{Name: "chat-c1", Words: 50, Proto: loadgen.HTTP1, Concurrency: 1, Duration: d, Warmup: warmup},
		{Name: "chat-c1-mock-on-sut", Words: 50, Proto: loadgen.HTTP1, Concurrency: 1, Duration: d, Warmup: warmup, MockOnSUT: true},
		{Name: "chat-c16", Words: 50, Proto: loadgen.HTTP1, Concurrency: 16, Duration: d, Warmup: warmup},
		{Name: "chat-c64", Words: 50, Proto: loadgen.HTTP1, Concurrency: 64, Duration: d, Warmup: warmup},
		{Name: fmt.Sprintf("chat-open-%.0f", rate), Words: 50, Proto: loadgen.HTTP1, Concurrency: 256, Rate: rate, Duration: d, Warmup: warmup},
		{Name: "chat-h2c-c16", Words: 50, Proto: loadgen.H2C, Concurrency: 16, Duration: d, Warmup: warmup},
		{Name: "chat-h3-c16", Words: 50, Proto: loadgen.H3, Concurrency: 16, Duration: d, Warmup: warmup},
		{Name: "stream20-c16", Stream: true, Words: 20, Proto: loadgen.HTTP1, Concurrency: 16, Duration: d, Warmup: warmup},
		{Name: "stream200-c16", Stream: true, Words: 200, Proto: loadgen.HTTP1, Concurrency: 16, Duration: d, Warmup: warmup},
	}
}

// Run is one scenario measured against one system.
type Run struct {
	System   string   `json:"system"`
	Scenario Scenario `json:"scenario"`
	// Round is the round of the scenario the run was measured in, from 1
	// (every system runs once per round); 0 when rounds were not counted.
	Round int              `json:"round,omitempty"`
	Load  *loadgen.Result  `json:"load,omitempty"`
	SUT   *procstat.Result `json:"sut,omitempty"`
	// Mock is the mock upstream's usage (for direct it is the SUT itself).
	Mock  *procstat.Result `json:"mock,omitempty"`
	Error string           `json:"error,omitempty"`
}

// MedianRun returns the run with the median throughput (the lower of the
// two middle ones for an even count) among runs that measured something,
// or the first run when none did; nil for none.
func MedianRun(runs []*Run) *Run {
	var ok []*Run
	for _, r := range runs {
		if r.Load != nil {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		if len(runs) == 0 {
			return nil
		}
		return runs[0]
	}
	slices.SortStableFunc(ok, func(a, b *Run) int { return cmp.Compare(a.Load.Throughput(), b.Load.Throughput()) })
	return ok[(len(ok)-1)/2]
}

// CPUPer1k is the system's CPU seconds per 1,000 successful requests.
func (r *Run) CPUPer1k() float64 { return cpuPer1k(r.SUT, r.Load) }

// MockCPUPer1k is the mock's CPU seconds per 1,000 successful requests.
func (r *Run) MockCPUPer1k() float64 { return cpuPer1k(r.Mock, r.Load) }

func cpuPer1k(u *procstat.Result, l *loadgen.Result) float64 {
	if u == nil || l == nil || l.OK == 0 {
		return 0
	}
	return u.CPU.Seconds() / float64(l.OK) * 1000
}

// Check sends one request of the scenario and verifies the answer is a
// complete mock reply, so a misconfigured system fails loudly instead of
// being benchmarked at its error path.
func Check(ctx context.Context, sys *System, sc Scenario) error {
	client, closer, err := loadgen.NewClient(sc.Proto, 1)
	if err != nil {
		return err
	}
	defer closer.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sys.urlFor(sc.Proto)+"/v1/chat/completions", bytes.NewReader(sc.Body()))
	if err != nil {
		return err
	}
	req.Header = sys.headers()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("check %s/%s: %w", sys.Name, sc.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("check %s/%s: %w", sys.Name, sc.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("check %s/%s: status %d: %s", sys.Name, sc.Name, resp.StatusCode, body)
	}
	wants := []string{mockupstream.ReplyText(sc.Words)}
	if sc.Stream { // one word per chunk, then the terminator
		wants = []string{`"mock"`, `" reply"`, "data: [DONE]"}
	}
	for _, want := range wants {
		if !bytes.Contains(body, []byte(want)) {
			return fmt.Errorf("check %s/%s: answer lacks %q: %.300s", sys.Name, sc.Name, want, body)
		}
	}
	return nil
}

// Measure warms the system up with the scenario's load, then runs it again
// while sampling the system's and the mock's processes.
func Measure(ctx context.Context, sys *System, mock *Process, sc Scenario) *Run {
	run := &Run{System: sys.Name, Scenario: sc}
	if err := Check(ctx, sys, sc); err != nil {
		run.Error = err.Error()
		return run
	}
	client, closer, err := loadgen.NewClient(sc.Proto, sc.Concurrency)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer closer.Close()
	header := sys.headers()
	cfg := loadgen.Config{
		Request:     loadgen.Request{Method: http.MethodPost, URL: sys.urlFor(sc.Proto) + "/v1/chat/completions", Header: header, Body: sc.Body()},
		Client:      client,
		Concurrency: sc.Concurrency,
		Rate:        sc.Rate,
		Duration:    sc.Warmup,
	}
	if sc.Warmup > 0 {
		if _, err := loadgen.Run(ctx, cfg); err != nil {
			run.Error = "warmup: " + err.Error()
			return run
		}
	}
	samplers := []*procstat.Sampler{procstat.NewSampler(sys.Proc.PID, 0)}
	if mock != nil && mock.PID != sys.Proc.PID {
		samplers = append(samplers, procstat.NewSampler(mock.PID, 0))
	}
	for _, s := range samplers {
		if err := s.Start(); err != nil {
			run.Error = err.Error()
			return run
		}
	}
	cfg.Duration = sc.Duration
	res, loadErr := loadgen.Run(ctx, cfg)
	var usage []*procstat.Result
	for _, s := range samplers {
		u, err := s.Stop()
		if err != nil && run.Error == "" {
			run.Error = err.Error()
		}
		usage = append(usage, &u)
	}
	run.Load, run.SUT, run.Mock = res, usage[0], usage[0]
	if len(usage) > 1 {
		run.Mock = usage[1]
	}
	if loadErr != nil && run.Error == "" {
		run.Error = loadErr.Error()
	}
	return run
}
