package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/hdr"
	"github.com/weir-gateway/weir/bench/loadgen"
	"github.com/weir-gateway/weir/bench/procstat"
	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMain removes the binaries weirtest built once the tests are done.
func TestMain(m *testing.M) {
	os.Exit(weirtest.Main(m))
}

func TestWeirConfigsValidate(t *testing.T) {
	for _, v := range []WeirVariant{WeirOff, WeirFull, WeirFullRedis} {
		t.Run(v.Name, func(t *testing.T) {
			yaml := WeirConfig(v, "http://127.0.0.1:9", t.TempDir(), "127.0.0.1:6379")
			cfg, err := config.Load([]byte(yaml))
			if err != nil {
				t.Fatalf("generated config is invalid: %v\n%s", err, yaml)
			}
			if got := len(cfg.Tenants) > 0; got != v.Tenants {
				t.Errorf("tenants configured %v, want %v", got, v.Tenants)
			}
			if got := cfg.RateLimit.Backend == "redis"; got != v.Redis {
				t.Errorf("redis backend %v, want %v", got, v.Redis)
			}
			if got := cfg.Log.Access != "off"; got != v.AccessLog {
				t.Errorf("access log %q for AccessLog=%v", cfg.Log.Access, v.AccessLog)
			}
			if len(cfg.Models) != 1 || cfg.Models[0].Name != BenchModel || cfg.Providers[0].APIKey.Value() != UpstreamKey {
				t.Errorf("models %+v providers %+v", cfg.Models, cfg.Providers)
			}
		})
	}
}

// nginxBin finds Debian's nginx, or skips the test.
func nginxBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Skip("nginx not installed")
		}
		bin = "/usr/sbin/nginx"
	}
	return bin
}

func TestNginxConfigIsAccepted(t *testing.T) {
	bin := nginxBin(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nginx-tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(NginxConfig("127.0.0.1:1", "127.0.0.1:3", "127.0.0.1:2", dir, 1, os.Geteuid() == 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-e", filepath.Join(dir, "err.log"), "-c", conf, "-p", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// TestStartNginxRelativeDir starts nginx with a relative log directory, as
// `make bench` does (-out bench/results).
func TestStartNginxRelativeDir(t *testing.T) {
	bin := nginxBin(t)
	t.Chdir(t.TempDir())
	env := &Env{Dir: filepath.Join("results", "logs")}
	sys, err := env.StartNginx(bin, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Stop() })
	if _, err := os.Stat(filepath.Join("results", "logs", "nginx", "nginx.conf")); err != nil {
		t.Fatal(err)
	}
}

func TestCPUCount(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "1": 1, "0-3": 4, "0,2-3": 3, " 1 , 3": 2} {
		if got, err := CPUCount(in); err != nil || got != want {
			t.Errorf("CPUCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "1-x"} {
		if _, err := CPUCount(bad); err == nil {
			t.Errorf("CPUCount(%q) accepted it", bad)
		}
	}
}

func TestScenarioBody(t *testing.T) {
	for _, sc := range DefaultScenarios(time.Second, 0, 100) {
		b := sc.Body()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		if len(b) != RequestSize || m["model"] != BenchModel || int(m["max_tokens"].(float64)) != sc.Words || (m["stream"] == true) != sc.Stream {
			t.Errorf("%s: %d bytes %v", sc.Name, len(b), m["stream"])
		}
	}
}

func TestProcessLifecycle(t *testing.T) {
	env := &Env{Dir: t.TempDir()}
	p, err := env.Start("sh", "", "sh", []string{"-c", "echo starting; echo ready >&2; exec sleep 60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitOutput(func(l string) bool { return l == "ready" }, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if done, _ := p.Exited(); !done {
		t.Error("process still running after Stop")
	}
	b, err := os.ReadFile(filepath.Join(env.Dir, "sh.stdout"))
	if err != nil || string(b) != "starting\n" {
		t.Errorf("stdout file %q %v", b, err)
	}
	q, err := env.Start("false", "", "false", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.WaitOutput(func(string) bool { return false }, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("WaitOutput on an exiting process: %v", err)
	}
	if _, err := env.Start("x", "", "/nonexistent/bin", nil, nil); err == nil {
		t.Error("started a missing binary")
	}
}

func TestPinnedStart(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset not installed")
	}
	env := &Env{Dir: t.TempDir(), Pin: map[string]string{"sut": "0"}}
	p, err := env.Start("grep", "sut", "sh", []string{"-c", "grep Cpus_allowed_list /proc/self/status; exec sleep 60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	line, err := p.WaitOutput(func(l string) bool { return strings.HasPrefix(l, "Cpus_allowed_list") }, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(line); f[len(f)-1] != "0" {
		t.Errorf("pinned process runs on %q", line)
	}
}

func TestRepin(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset not installed")
	}
	if OnlineCPUs() < 2 {
		t.Skip("needs 2 CPUs")
	}
	env := &Env{Dir: t.TempDir(), Pin: map[string]string{"mock": "0", "sut": "1"}}
	p, err := env.Start("sleep", "mock", "sleep", []string{"60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	cpus := func() string {
		t.Helper()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Cpus_allowed_list:") {
				return strings.TrimSpace(strings.TrimPrefix(l, "Cpus_allowed_list:"))
			}
		}
		t.Fatal("no Cpus_allowed_list")
		return ""
	}
	// taskset pins itself, then execs sleep: wait for the first.
	for i := 0; cpus() != "0"; i++ {
		if i == 500 {
			t.Fatalf("started on CPUs %q, want 0", cpus())
		}
		time.Sleep(10 * time.Millisecond)
	}
	restore, err := env.Repin(p, "sut", "mock")
	if err != nil {
		t.Fatal(err)
	}
	if got := cpus(); got != "1" {
		t.Errorf("moved to CPUs %q, want 1", got)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if got := cpus(); got != "0" {
		t.Errorf("moved back to CPUs %q, want 0", got)
	}
	// Unpinned roles leave the process alone.
	restore, err = (&Env{Dir: env.Dir}).Repin(p, "sut", "mock")
	if err != nil || restore() != nil || cpus() != "0" {
		t.Errorf("unpinned Repin moved the process or failed: %v", err)
	}
}

// TestMeasureDirectAndNginx runs the real mock binary and nginx briefly and
// checks a run measures requests and the processes' usage.
func TestMeasureDirectAndNginx(t *testing.T) {
	env := &Env{Dir: t.TempDir()}
	mock, url, err := env.StartMock("mock", weirtest.Build(t, "./bench/cmd/mockupstream"), "-words", "60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mock.Stop() })
	systems := []*System{Direct(mock, url)}
	if nginx, err := exec.LookPath("nginx"); err == nil {
		sys, err := env.StartNginx(nginx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sys.Stop() })
		systems = append(systems, sys)
	}
	for _, sys := range systems {
		for _, sc := range []Scenario{
			{Name: "chat", Words: 50, Proto: loadgen.HTTP1, Concurrency: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond},
			{Name: "stream", Stream: true, Words: 10, Proto: loadgen.HTTP1, Concurrency: 2, Duration: 300 * time.Millisecond},
			{Name: "h2c", Words: 5, Proto: loadgen.H2C, Concurrency: 2, Duration: 200 * time.Millisecond},
		} {
			t.Run(sys.Name+"/"+sc.Name, func(t *testing.T) {
				r := Measure(context.Background(), sys, mock, sc)
				if r.Error != "" || r.Load == nil || r.Load.OK == 0 || r.Load.ErrorCount() != 0 {
					t.Fatalf("run %+v", r)
				}
				if r.SUT == nil || r.SUT.PeakRSS <= 0 || r.Mock == nil || r.Mock.PeakRSS <= 0 {
					t.Fatalf("usage %+v %+v", r.SUT, r.Mock)
				}
				if sc.Stream && r.Load.Events != r.Load.OK*(1+10+1+1+1) { // role, 10 words, finish, usage, [DONE]
					t.Errorf("%d events for %d streams", r.Load.Events, r.Load.OK)
				}
			})
		}
	}
	t.Run("idle", func(t *testing.T) {
		idle := IdleStreams(context.Background(), systems[len(systems)-1], url, 40)
		if idle.Error != "" || idle.Opened != 40 || idle.After.Procs == 0 {
			t.Fatalf("idle run %+v", idle)
		}
		// the mock's pause is lifted afterwards
		if r := Measure(context.Background(), systems[0], mock, Scenario{Name: "after", Stream: true, Words: 3, Concurrency: 1, Duration: 100 * time.Millisecond}); r.Error != "" {
			t.Fatalf("after idle streams: %s", r.Error)
		}
	})
	// A system that answers errors fails the check instead of being measured.
	bad := &System{Name: "wrong-key", URL: url, Proc: mock}
	if r := Measure(context.Background(), bad, mock, Scenario{Name: "chat", Words: 5, Concurrency: 1, Duration: time.Second}); r.Error == "" || r.Load != nil {
		t.Errorf("unauthenticated system was measured: %+v", r)
	}
}

// TestWeirSystem starts weir (built from this module, or WEIRBENCH_WEIR) in
// each feature set and measures it briefly.
func TestWeirSystem(t *testing.T) {
	weir := os.Getenv("WEIRBENCH_WEIR")
	if weir == "" {
		weir = weirtest.Build(t, "./cmd/weir")
	}
	env := &Env{Dir: t.TempDir()}
	mock, url, err := env.StartMock("mock", weirtest.Build(t, "./bench/cmd/mockupstream"), "-words", "60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mock.Stop() })
	variants := []WeirVariant{WeirOff, WeirFull}
	redisBin, redisErr := exec.LookPath("redis-server")
	if redisErr == nil {
		variants = append(variants, WeirFullRedis)
	}
	for _, v := range variants {
		t.Run(v.Name, func(t *testing.T) {
			var redisAddr string
			if v.Redis {
				p, addr, err := env.StartRedis(redisBin)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = p.Stop() })
				redisAddr = addr
			}
			sys, err := env.StartWeir(weir, v, url, redisAddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sys.Stop() })
			r := Measure(context.Background(), sys, mock, Scenario{Name: "chat", Words: 20, Proto: loadgen.HTTP1, Concurrency: 2, Duration: 200 * time.Millisecond})
			if r.Error != "" || r.Load == nil || r.Load.OK == 0 || r.SUT.PeakRSS <= 0 {
				t.Fatalf("run %+v", r)
			}
			idle := IdleStreams(context.Background(), sys, url, 20)
			if idle.Error != "" || idle.Opened != 20 || idle.GoroutinesAfter < idle.GoroutinesBefore+idle.Opened/2 {
				// weir holds one goroutine per stream; the count before may still
				// include a connection of the load run that is closing.
				t.Errorf("idle streams %+v", idle)
			}
			if v.AccessLog {
				if fi, err := os.Stat(filepath.Join(env.Dir, v.Name, "weir-access.log")); err != nil || fi.Size() == 0 {
					t.Errorf("access log: %v", err)
				}
			}
		})
	}
}

func fakeLoad(ok uint64, base time.Duration, stream bool) *loadgen.Result {
	r := &loadgen.Result{Mode: "closed", Concurrency: 16, Elapsed: time.Second, Requests: ok, OK: ok, Latency: hdr.New()}
	for i := range ok {
		r.Latency.Record(base + time.Duration(i%100)*time.Microsecond)
	}
	if stream {
		r.TTFB, r.EventGap, r.Header = hdr.New(), hdr.New(), hdr.New()
		for i := range ok {
			r.TTFB.Record(base/10 + time.Duration(i%10)*time.Microsecond)
			r.EventGap.Record(500 * time.Microsecond)
		}
		r.Events = ok * 24
	}
	return r
}

func TestReportGolden(t *testing.T) {
	chat := Scenario{Name: "chat-c16", Words: 50, Proto: "h1", Concurrency: 16, Duration: time.Second, Warmup: time.Second}
	stream := Scenario{Name: "stream20-c16", Stream: true, Words: 20, Proto: "h1", Concurrency: 16, Duration: time.Second}
	h3 := Scenario{Name: "chat-h3-c16", Words: 50, Proto: "h3", Concurrency: 16, Duration: time.Second}
	h2c := Scenario{Name: "chat-h2c-c16", Words: 50, Proto: "h2c", Concurrency: 16, Duration: time.Second}
	open := Scenario{Name: "chat-open-2000", Words: 50, Proto: "h1", Concurrency: 256, Rate: 2000, Duration: time.Second}
	// A different layout: it must stay off the throughput plot.
	colo := Scenario{Name: "chat-c1-mock-on-sut", Words: 50, Proto: "h1", Concurrency: 1, Duration: time.Second, MockOnSUT: true}
	usage := func(cpu time.Duration, rss int64) *procstat.Result { return &procstat.Result{CPU: cpu, PeakRSS: rss} }
	rep := &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Host:    Host{Name: "bench-host", Kernel: "6.1.0", CPUModel: "Test CPU", CPUs: 2, GoVersion: "go1.26", Nginx: "nginx version: nginx/1.22.1", Weir: "weir dev"},
		Pinning: map[string]string{"load": "0", "mock": "0", "sut": "1"}, CPUIdle: "held polling", MockArgs: []string{"-words", "200"},
		Systems: []SystemInfo{{"direct", "client → mock"}, {"nginx", "nginx proxy"}, {"weir-full", "weir: everything"}, {"weir-off", "weir: metrics"}},
		Runs: []*Run{
			{System: "direct", Scenario: chat, Load: fakeLoad(20000, 400*time.Microsecond, false), SUT: usage(400*time.Millisecond, 12<<20), Mock: usage(400*time.Millisecond, 12<<20)},
			{System: "nginx", Scenario: chat, Load: fakeLoad(10000, 800*time.Microsecond, false), SUT: usage(500*time.Millisecond, 30<<20), Mock: usage(200*time.Millisecond, 12<<20)},
			{System: "weir-full", Scenario: chat, Load: fakeLoad(9000, 450*time.Microsecond, false), SUT: usage(900*time.Millisecond, 20<<20), Mock: usage(180*time.Millisecond, 12<<20)},
			{System: "weir-off", Scenario: chat, Error: "check weir-off/chat-c16: status 502"},
			{System: "direct", Scenario: stream, Load: fakeLoad(400, 30*time.Millisecond, true), SUT: usage(100*time.Millisecond, 12<<20), Mock: usage(100*time.Millisecond, 12<<20)},
			{System: "weir-full", Scenario: stream, Load: fakeLoad(380, 31*time.Millisecond, true), SUT: usage(200*time.Millisecond, 20<<20), Mock: usage(90*time.Millisecond, 12<<20)},
			// Open loop: the rate is fixed, so only the added latency is judged.
			{System: "direct", Scenario: open, Load: fakeLoad(2000, 500*time.Microsecond, false), SUT: usage(100*time.Millisecond, 12<<20), Mock: usage(100*time.Millisecond, 12<<20)},
			{System: "nginx", Scenario: open, Load: fakeLoad(2000, 560*time.Microsecond, false), SUT: usage(100*time.Millisecond, 30<<20), Mock: usage(100*time.Millisecond, 12<<20)},
			{System: "weir-full", Scenario: open, Load: fakeLoad(2000, 700*time.Microsecond, false), SUT: usage(200*time.Millisecond, 20<<20), Mock: usage(100*time.Millisecond, 12<<20)},
			{System: "direct", Scenario: colo, Load: fakeLoad(5000, 180*time.Microsecond, false), SUT: usage(100*time.Millisecond, 12<<20), Mock: usage(100*time.Millisecond, 12<<20)},
			{System: "weir-full", Scenario: colo, Load: fakeLoad(3500, 260*time.Microsecond, false), SUT: usage(300*time.Millisecond, 20<<20), Mock: usage(100*time.Millisecond, 12<<20)},
			// HTTP/2 is judged as HTTP/1.1 is.
			{System: "direct", Scenario: h2c, Load: fakeLoad(12000, 1000*time.Microsecond, false), SUT: usage(500*time.Millisecond, 12<<20), Mock: usage(500*time.Millisecond, 12<<20)},
			{System: "nginx", Scenario: h2c, Load: fakeLoad(14000, 950*time.Microsecond, false), SUT: usage(600*time.Millisecond, 30<<20), Mock: usage(300*time.Millisecond, 12<<20)},
			{System: "weir-full", Scenario: h2c, Load: fakeLoad(10500, 1250*time.Microsecond, false), SUT: usage(900*time.Millisecond, 20<<20), Mock: usage(300*time.Millisecond, 12<<20)},
			// No direct run of an h3 scenario: no differences to print.
			{System: "weir-full", Scenario: h3, Load: fakeLoad(5000, 900*time.Microsecond, false), SUT: usage(800*time.Millisecond, 20<<20), Mock: usage(100*time.Millisecond, 12<<20)},
		},
		Idle: []*IdleRun{{System: "weir-full", Streams: 10000, Opened: 10000, Before: procstat.Usage{RSS: 20 << 20},
			After: procstat.Usage{RSS: 20<<20 + 10000*30*1024, Threads: 8}, GoroutinesBefore: 10, GoroutinesAfter: 20010}},
		Notes: []string{"weir-full-redis skipped: binary not found"},
	}
	dir := t.TempDir()
	plots, err := rep.WritePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(plots, ",") != "latency-chat-c16.png,latency-stream20-c16.png,latency-chat-open-2000.png,latency-chat-c1-mock-on-sut.png,latency-chat-h2c-c16.png,latency-chat-h3-c16.png" {
		t.Errorf("plots %v", plots) // throughput needs two concurrencies of one system
	}
	for _, p := range plots {
		want := 2
		if p == "latency-chat-h3-c16.png" {
			want = 1 // only weir speaks HTTP/3
		}
		checkPNG(t, filepath.Join(dir, p), len(rep.Systems), want)
		svg := strings.TrimSuffix(p, ".png") + ".svg"
		b, err := os.ReadFile(filepath.Join(dir, svg))
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s is not valid XML: %v", svg, err)
			}
		}
		if !bytes.Contains(b, []byte(">weir-full<")) || !bytes.Contains(b, []byte("<polyline")) {
			t.Errorf("%s lacks the weir-full line", svg)
		}
	}
	rep.Plots = plots
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "report.md")
	if *update {
		if err := os.WriteFile(path, md.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if md.String() != string(want) {
		t.Errorf("markdown differs from %s (go test -update rewrites it):\n%s", path, md.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Runs []struct {
			System string `json:"system"`
			Load   *struct {
				OK      uint64 `json:"ok"`
				Latency struct {
					P50     int64 `json:"p50_ns"`
					Buckets []any `json:"buckets"`
				} `json:"latency"`
			} `json:"load"`
			Error string `json:"error"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 15 || back.Runs[0].Load.OK != 20000 || back.Runs[0].Load.Latency.P50 == 0 || len(back.Runs[0].Load.Latency.Buckets) == 0 || back.Runs[3].Error == "" {
		t.Errorf("json round trip: %+v", back.Runs[:1])
	}
}

// checkPNG decodes a plot and checks its size, that every series colour up
// to the systems with data is drawn, and that there is text (black pixels).
func checkPNG(t *testing.T, path string, maxSeries, minSeries int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Fatalf("%s is %v, want %dx%d", path, b, plotW, plotH)
	}
	count := map[color.RGBA]int{}
	for y := 0; y < plotH; y++ {
		for x := 0; x < plotW; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			count[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}]++
		}
	}
	if count[color.RGBA{0, 0, 0, 0xff}] < 500 {
		t.Errorf("%s has almost no text", path)
	}
	drawn := 0
	for _, hex := range plotColors[:maxSeries] {
		if count[parseColor(hex)] > 0 {
			drawn++
		}
	}
	if drawn < minSeries {
		t.Errorf("%s shows %d series, want at least %d", path, drawn, minSeries)
	}
}

func TestSystemURLFor(t *testing.T) {
	weir := &System{URL: "http://a", H3URL: "https://b"}
	nginx := &System{URL: "http://a", H2CURL: "http://c"}
	tests := []struct {
		sys   *System
		proto string
		want  string
	}{
		{weir, "h1", "http://a"},
		{weir, "h2c", "http://a"},
		{weir, "h3", "https://b"},
		{nginx, "h2c", "http://c"},
		{nginx, "h3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.proto+" "+tt.want, func(t *testing.T) {
			if got := tt.sys.urlFor(tt.proto); got != tt.want {
				t.Errorf("urlFor(%s) = %q, want %q", tt.proto, got, tt.want)
			}
			if got := tt.sys.Speaks(tt.proto); got != (tt.want != "") {
				t.Errorf("Speaks(%s) = %v", tt.proto, got)
			}
		})
	}
}

func TestMedianRun(t *testing.T) {
	run := func(rps int) *Run {
		if rps == 0 {
			return &Run{Error: "failed"}
		}
		return &Run{Load: fakeLoad(uint64(rps), time.Millisecond, false)}
	}
	tput := func(r *Run) int {
		if r == nil {
			return -1
		}
		if r.Load == nil {
			return 0
		}
		return int(r.Load.Throughput() + 0.5)
	}
	tests := []struct {
		name string
		rps  []int
		want int
	}{
		{"none", nil, -1},
		{"one", []int{900}, 900},
		{"three", []int{900, 300, 600}, 600},
		{"even takes the lower middle", []int{400, 100, 300, 200}, 200},
		{"failed rounds are not counted", []int{0, 500, 0}, 500},
		{"all failed gives the first", []int{0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs []*Run
			for _, r := range tt.rps {
				runs = append(runs, run(r))
			}
			if got := tput(MedianRun(runs)); got != tt.want {
				t.Errorf("median of %v: %d, want %d", tt.rps, got, tt.want)
			}
		})
	}
}

// TestGoalsIdleTooFew: a few hundred idle streams fit in heap the process
// already had, so they say nothing about the 10,000-stream goal.
func TestGoalsIdleTooFew(t *testing.T) {
	rep := &Report{Idle: []*IdleRun{{System: "weir-full", Streams: 500, Opened: 500, Before: procstat.Usage{RSS: 20 << 20},
		After: procstat.Usage{RSS: 20<<20 + 500*10*1024}}}}
	got := rep.goals()
	if !strings.Contains(got, "500 idle streams cost weir-full 10.0 KiB each: too few to judge") || strings.Contains(got, ": met") {
		t.Errorf("goals:\n%s", got)
	}
}

// TestGoalsPairRounds: with rounds, a goal's figure is the median of the
// figures of each round, weir-full beside the other system in that round,
// not the ratio of two median rows that may come from different rounds.
func TestGoalsPairRounds(t *testing.T) {
	chat := Scenario{Name: "chat-c16", Words: 50, Proto: "h1", Concurrency: 16, Duration: time.Second}
	// The p50s come out of the histograms a few µs off the base latency.
	run := func(system string, round int, rps uint64, p50 time.Duration) *Run {
		return &Run{System: system, Scenario: chat, Round: round, Load: fakeLoad(rps, p50, false)}
	}
	tests := []struct {
		name   string
		rounds []*Run
		want   []string
	}{
		{
			name: "median of the rounds",
			rounds: []*Run{
				run("direct", 1, 20000, 400*time.Microsecond), run("nginx", 1, 10000, 500*time.Microsecond), run("weir-full", 1, 9000, 450*time.Microsecond),
				run("direct", 2, 21000, 300*time.Microsecond), run("nginx", 2, 14000, 420*time.Microsecond), run("weir-full", 2, 7000, 500*time.Microsecond),
				run("direct", 3, 19000, 380*time.Microsecond), run("nginx", 3, 8000, 400*time.Microsecond), run("weir-full", 3, 6000, 400*time.Microsecond),
			},
			want: []string{
				"chat-c16: weir-full sustains 0.75× nginx's requests/s (goal ≥ 0.8×; median of 3 rounds: 0.90, 0.50, 0.75): NOT met",
				"chat-c16: weir-full adds 49 µs p50 over direct (goal < 100 µs; median of 3 rounds: +49, +203, +20; nginx adds 102 µs; median of 3 rounds: +102, +121, +20): met",
			},
		},
		{
			name: "a round without nginx is left out",
			rounds: []*Run{
				run("direct", 1, 20000, 400*time.Microsecond), run("nginx", 1, 10000, 500*time.Microsecond), run("weir-full", 1, 9000, 450*time.Microsecond),
				run("direct", 2, 21000, 300*time.Microsecond), {System: "nginx", Scenario: chat, Round: 2, Error: "failed"}, run("weir-full", 2, 7000, 500*time.Microsecond),
				run("direct", 3, 19000, 380*time.Microsecond), run("nginx", 3, 8000, 400*time.Microsecond), run("weir-full", 3, 6000, 400*time.Microsecond),
			},
			want: []string{"chat-c16: weir-full sustains 0.82× nginx's requests/s (goal ≥ 0.8×; median of 2 rounds: 0.90, 0.75): met"},
		},
		{
			name: "a figure next to the goal keeps the digits that decide it",
			rounds: []*Run{
				run("direct", 1, 20000, 400*time.Microsecond), run("nginx", 1, 10000, 500*time.Microsecond), run("weir-full", 1, 7950, 450*time.Microsecond),
				run("direct", 2, 20000, 400*time.Microsecond), run("nginx", 2, 10000, 500*time.Microsecond), run("weir-full", 2, 8040, 450*time.Microsecond),
				run("direct", 3, 20000, 400*time.Microsecond), run("nginx", 3, 10000, 500*time.Microsecond), run("weir-full", 3, 7000, 450*time.Microsecond),
			},
			want: []string{"chat-c16: weir-full sustains 0.795× nginx's requests/s (goal ≥ 0.8×; median of 3 rounds: 0.795, 0.804, 0.70): NOT met"},
		},
		{
			name:   "one round: the rows' figures",
			rounds: []*Run{run("direct", 1, 20000, 400*time.Microsecond), run("nginx", 1, 10000, 500*time.Microsecond), run("weir-full", 1, 9000, 450*time.Microsecond)},
			want: []string{
				"chat-c16: weir-full sustains 0.90× nginx's requests/s (goal ≥ 0.8×): met",
				"chat-c16: weir-full adds 49 µs p50 over direct (goal < 100 µs; nginx adds 102 µs): met",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Rounds: tt.rounds}
			for _, sys := range []string{"direct", "nginx", "weir-full"} {
				var runs []*Run
				for _, r := range tt.rounds {
					if r.System == sys {
						runs = append(runs, r)
					}
				}
				rep.Runs = append(rep.Runs, MedianRun(runs))
			}
			got := rep.goals()
			for _, w := range tt.want {
				if !strings.Contains(got, "- "+w+"\n") {
					t.Errorf("goals lack %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestSharp(t *testing.T) {
	for _, tc := range []struct {
		x, goal float64
		prec    int
		want    string
	}{
		{0.7952, 0.8, 2, "0.795"},
		{0.8049, 0.8, 2, "0.805"},
		{0.8, 0.8, 2, "0.80"},
		{0.7999996, 0.8, 2, "0.800000"},
		{0.86, 0.8, 2, "0.86"},
		{99.6, 100, 0, "99.6"},
		{100.4, 100, 0, "100.4"},
		{98.2, 100, 0, "98"},
		{-12, 100, 0, "-12"},
	} {
		if got := sharp(tc.x, tc.goal, tc.prec); got != tc.want {
			t.Errorf("sharp(%v, %v, %d) = %q, want %q", tc.x, tc.goal, tc.prec, got, tc.want)
		}
	}
}
