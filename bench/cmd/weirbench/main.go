// Command weirbench runs the end-to-end benchmark of issue 10: the same mock
// upstream and the same load against direct, nginx and weir in several
// feature sets, in one run, and writes report.md and report.json.
//
//	weirbench -weir bin/weir -out bench/results            # everything
//	weirbench -systems direct,weir-full -scenarios chat-c16 -duration 2s
//
// Without -weir or -mock it builds them from this module. With -pin auto (the
// default on machines with 2+ CPUs) the load generator and the mock share
// CPU 0 and the system under test (and Redis) gets CPU 1, so every proxy has
// the same CPU and faces the same load; the report says how it ran.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/weir-gateway/weir/bench/harness"
)

const pinnedEnv = "WEIRBENCH_PINNED"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	weir, mock, nginx, redis string
	weirBase                 string
	out                      string
	systems, scenarios       []string
	duration, warmup         time.Duration
	rate                     float64
	chunkDelay               time.Duration
	idleStreams              int
	rounds                   int
	pin                      map[string]string
	cpuIdle                  string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("weirbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.weir, "weir", "", "weir binary (default: build ./cmd/weir)")
	fs.StringVar(&o.weirBase, "weir-base", "", "a second weir binary (a baseline, e.g. the previous commit's) measured as system weir-full-base with weir-full's features, side by side with -weir")
	fs.StringVar(&o.mock, "mock", "", "mockupstream binary (default: build ./bench/cmd/mockupstream)")
	fs.StringVar(&o.nginx, "nginx", lookPath("nginx", "/usr/sbin/nginx"), "nginx binary (empty: skip nginx)")
	fs.StringVar(&o.redis, "redis", lookPath("redis-server", ""), "redis-server binary (empty: skip weir-full-redis)")
	fs.StringVar(&o.out, "out", "bench/results", "directory for report.md, report.json and logs/")
	systems := fs.String("systems", "direct,nginx,weir-off,weir-full,weir-full-redis", "systems to run, in order")
	scenarios := fs.String("scenarios", "all", "scenario names to run (comma-separated), or all")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per scenario and system")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each measurement")
	fs.Float64Var(&o.rate, "rate", 2000, "request rate of the open-loop scenario")
	fs.DurationVar(&o.chunkDelay, "chunk-delay", 500*time.Microsecond, "mock pause between stream chunks")
	fs.IntVar(&o.idleStreams, "idle-streams", 10000, "idle streams held open per system for the memory scenario (0: skip)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per scenario: every system in turn, the order rotated each round; the report keeps each system's median round by req/s")
	fs.StringVar(&o.cpuIdle, "cpu-idle", "auto", "idle CPUs during the run: poll (hold /dev/cpu_dma_latency at 0 so they never halt; root), os (as the machine has them), auto (poll where allowed)")
	pin := fs.String("pin", "auto", `CPU pinning: auto, off, or role=cpus pairs ("load=0,mock=0,sut=1,redis=1")`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.systems = strings.Split(*systems, ",")
	for _, s := range o.systems {
		if !slices.Contains([]string{"direct", "nginx", "weir-off", "weir-full", "weir-full-redis", baseSystem}, s) {
			return nil, fmt.Errorf("-systems: unknown system %q", s)
		}
	}
	switch has := slices.Contains(o.systems, baseSystem); {
	case has && o.weirBase == "":
		return nil, fmt.Errorf("-systems: %s needs -weir-base", baseSystem)
	case !has && o.weirBase != "":
		// Right after weir-full, so the two alternate in each round.
		at := len(o.systems)
		if i := slices.Index(o.systems, "weir-full"); i >= 0 {
			at = i + 1
		}
		o.systems = slices.Insert(o.systems, at, baseSystem)
	}
	if *scenarios != "all" {
		o.scenarios = strings.Split(*scenarios, ",")
	}
	var err error
	if o.pin, err = parsePin(*pin, harness.OnlineCPUs()); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{"auto", "poll", "os"}, o.cpuIdle) {
		return nil, fmt.Errorf("-cpu-idle: %q is not auto, poll or os", o.cpuIdle)
	}
	if o.rounds < 1 {
		return nil, fmt.Errorf("-rounds: %d, want at least 1", o.rounds)
	}
	if o.duration <= 0 || o.warmup < 0 || o.rate <= 0 {
		return nil, errors.New("-duration and -rate must be positive, -warmup not negative")
	}
	return o, nil
}

func lookPath(name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if fallback != "" {
		if _, err := os.Stat(fallback); err == nil {
			return fallback
		}
	}
	return ""
}

// parsePin reads -pin. auto pins only with at least 2 CPUs: load and mock on
// CPU 0, the system under test and Redis on the rest.
func parsePin(spec string, cpus int) (map[string]string, error) {
	switch spec {
	case "off", "":
		return nil, nil
	case "auto":
		if cpus < 2 {
			return nil, nil
		}
		rest := "1"
		if cpus > 2 {
			rest = fmt.Sprintf("1-%d", cpus-1)
		}
		return map[string]string{"load": "0", "mock": "0", "sut": rest, "redis": rest}, nil
	}
	out := map[string]string{}
	for pair := range strings.SplitSeq(spec, ",") {
		role, cpus, ok := strings.Cut(pair, "=")
		if !ok || !slices.Contains([]string{"load", "mock", "sut", "redis"}, role) {
			return nil, fmt.Errorf("-pin: %q is not role=cpus with role load, mock, sut or redis", pair)
		}
		if _, err := harness.CPUCount(strings.ReplaceAll(cpus, ";", ",")); err != nil {
			return nil, fmt.Errorf("-pin: %w", err)
		}
		out[role] = strings.ReplaceAll(cpus, ";", ",")
	}
	return out, nil
}

// pinSelf re-executes weirbench under taskset so the load generator runs on
// its CPUs; children are pinned separately.
func pinSelf(cpus string, args []string) error {
	if cpus == "" || os.Getenv(pinnedEnv) == "1" {
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("pinning needs taskset: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{taskset, "-c", cpus, self}, args...)
	return syscall.Exec(taskset, argv, append(os.Environ(), pinnedEnv+"=1"))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "weirbench:", err)
		}
		return 2
	}
	if err := pinSelf(o.pin["load"], args); err != nil {
		fmt.Fprintln(stderr, "weirbench:", err)
		return 1
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "weirbench: warning:", err)
	}
	rep, err := bench(ctx, o, stderr)
	if rep != nil {
		if werr := writeReport(rep, o.out, stdout); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "weirbench:", err)
		return 1
	}
	return 0
}

// raiseFileLimit lifts the open-file limit (inherited by every system) so
// 10,000 idle streams fit: to 1<<20 where allowed (root), else to the hard limit.
func raiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: max(l.Max, 1<<20)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return nil
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}

// streamsThatFit is how many idle streams a proxy can hold under the
// current open-file limit (two sockets each, plus a margin).
func streamsThatFit() int {
	return max(0, int(fileLimit())-400) / 2
}

// moduleRoot is the directory of go.mod, for building the binaries.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the weir module: pass -weir and -mock")
	}
	return filepath.Dir(mod), nil
}

func build(dir, pkg, name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

func bench(ctx context.Context, o *options, logw io.Writer) (*harness.Report, error) {
	logs := filepath.Join(o.out, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	env := &harness.Env{Dir: logs, Pin: o.pin, Log: logw}
	scenarios := harness.DefaultScenarios(o.duration, o.warmup, o.rate)
	if o.scenarios != nil {
		scenarios = slices.DeleteFunc(scenarios, func(sc harness.Scenario) bool { return !slices.Contains(o.scenarios, sc.Name) })
		if len(scenarios) == 0 {
			return nil, fmt.Errorf("-scenarios: none of %v exists", o.scenarios)
		}
	}
	var err error
	if o.mock == "" {
		if o.mock, err = build(logs, "./bench/cmd/mockupstream", "mockupstream"); err != nil {
			return nil, err
		}
	}
	needWeir := slices.ContainsFunc(o.systems, func(s string) bool { return strings.HasPrefix(s, "weir") })
	if o.weir == "" && needWeir {
		if o.weir, err = build(logs, "./cmd/weir", "weir"); err != nil {
			return nil, err
		}
	}
	mockArgs := []string{"-words", "200", "-chunk-delay", o.chunkDelay.String()}
	mock, mockURL, err := env.StartMock("mock", o.mock, mockArgs...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = mock.Stop() }()

	hold, idle, err := holdIdle(o.cpuIdle)
	if err != nil {
		return nil, err
	}
	defer func() { _ = hold.Release() }()
	rep := &harness.Report{Started: time.Now(), Host: harness.DetectHost(o.nginx, o.weir), Pinning: o.pin, CPUIdle: idle, MockArgs: mockArgs}
	if fit := streamsThatFit(); o.idleStreams > fit {
		rep.Notes = append(rep.Notes, fmt.Sprintf("idle streams reduced from %d to %d: the open-file limit is %d and a proxy holds two sockets per stream",
			o.idleStreams, fit, fileLimit()))
		o.idleStreams = fit
	}
	if slices.ContainsFunc(scenarios, func(sc harness.Scenario) bool { return sc.Proto == "h3" }) {
		rep.Notes = append(rep.Notes, "HTTP/3 scenarios run for weir only: the mock has no QUIC listener and Debian's nginx 1.22 has no http3 module")
	}
	var errs []error
	// Every system runs at once, idle when not measured, so each scenario
	// can measure them one after the other within seconds: the machine's
	// neighbours then weigh on all of them alike.
	var systems []*harness.System
	var stops []func() error
	for _, name := range o.systems {
		if ctx.Err() != nil {
			break
		}
		sys, stop, err := startSystem(env, o, name, mock, mockURL)
		if err != nil {
			errs = append(errs, err)
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s did not run: %v", name, firstLine(err)))
			continue
		}
		if sys == nil {
			rep.Notes = append(rep.Notes, name+" skipped: binary not found")
			continue
		}
		systems = append(systems, sys)
		stops = append(stops, stop)
		rep.Systems = append(rep.Systems, harness.SystemInfo{Name: sys.Name, Desc: sys.Desc})
	}
	if o.rounds > 1 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("each scenario ran %d rounds, every system in turn with the order rotated each round; a row is the system's round with the median req/s; the goals compare systems within each round and take the median over the rounds", o.rounds))
	}
	for _, sc := range scenarios {
		restore := func() error { return nil }
		if sc.MockOnSUT {
			if restore, err = env.Repin(mock, "sut", "mock"); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		runs := map[string][]*harness.Run{}
		for round := range o.rounds {
			for i := range systems {
				if ctx.Err() != nil {
					break
				}
				sys := systems[(i+round)%len(systems)]
				if !sys.Speaks(sc.Proto) {
					continue
				}
				fmt.Fprintf(logw, "== %s / %s (round %d)\n", sys.Name, sc.Name, round+1)
				r := harness.Measure(ctx, sys, mock, sc)
				r.Round = round + 1
				rep.Rounds = append(rep.Rounds, r)
				if r.Load != nil {
					fmt.Fprintf(logw, "   %.0f req/s, latency %s\n", r.Load.Throughput(), r.Load.Latency.Summarize())
				}
				if r.Error != "" {
					fmt.Fprintf(logw, "   error: %s\n", r.Error)
				}
				runs[sys.Name] = append(runs[sys.Name], r)
			}
		}
		if err := restore(); err != nil {
			errs = append(errs, err)
		}
		for _, sys := range systems {
			if r := harness.MedianRun(runs[sys.Name]); r != nil {
				rep.Runs = append(rep.Runs, r)
			}
		}
	}
	for _, sys := range systems {
		if o.idleStreams == 0 || ctx.Err() != nil {
			break
		}
		fmt.Fprintf(logw, "== %s / %d idle streams\n", sys.Name, o.idleStreams)
		idle := harness.IdleStreams(ctx, sys, mockURL, o.idleStreams)
		fmt.Fprintf(logw, "   %d open, %.1f KiB per stream %s\n", idle.Opened, idle.BytesPerStream()/1024, idle.Error)
		rep.Idle = append(rep.Idle, idle)
	}
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", systems[i].Name, err))
		}
	}
	if ctx.Err() != nil {
		rep.Notes = append(rep.Notes, "interrupted: the report is partial")
	}
	return rep, errors.Join(errs...)
}

// holdIdle applies -cpu-idle and says in the report's words what it did.
// Polling idle CPUs take wake-up cost out of what is measured for every
// system alike (see harness.IdleHold); auto falls back to the machine's
// idle states where the hold is not allowed, and says so.
func holdIdle(mode string) (*harness.IdleHold, string, error) {
	driver := harness.IdleDriver()
	if driver != "" {
		driver = "; cpuidle " + driver
	}
	if mode == "os" {
		return nil, "as the machine has them" + driver, nil
	}
	hold, err := harness.HoldPollIdle()
	switch {
	case err == nil:
		return hold, "held polling, never halting (/dev/cpu_dma_latency = 0 during the run, as tuned's latency-performance profile does)" + driver, nil
	case mode == "poll":
		return nil, "", fmt.Errorf("-cpu-idle poll: %w", err)
	}
	return nil, "as the machine has them (auto: " + err.Error() + ")" + driver, nil
}

// startSystem starts one named system; a nil system means its binary is missing.
// baseSystem is weir-full run from the -weir-base binary.
const baseSystem = "weir-full-base"

func startSystem(env *harness.Env, o *options, name string, mock *harness.Process, mockURL string) (*harness.System, func() error, error) {
	switch name {
	case baseSystem:
		v := harness.WeirFull
		v.Name = baseSystem
		sys, err := env.StartWeir(o.weirBase, v, mockURL, "")
		if err != nil {
			return nil, nil, err
		}
		sys.Desc += " (baseline binary " + filepath.Base(o.weirBase) + ")"
		return sys, sys.Stop, nil
	case "direct":
		return harness.Direct(mock, mockURL), func() error { return nil }, nil
	case "nginx":
		if o.nginx == "" {
			return nil, nil, nil
		}
		sys, err := env.StartNginx(o.nginx, mockURL)
		if err != nil {
			return nil, nil, err
		}
		return sys, sys.Stop, nil
	}
	variant := map[string]harness.WeirVariant{"weir-off": harness.WeirOff, "weir-full": harness.WeirFull, "weir-full-redis": harness.WeirFullRedis}[name]
	var redisAddr string
	var redis *harness.Process
	if variant.Redis {
		if o.redis == "" {
			return nil, nil, nil
		}
		var err error
		if redis, redisAddr, err = env.StartRedis(o.redis); err != nil {
			return nil, nil, err
		}
	}
	sys, err := env.StartWeir(o.weir, variant, mockURL, redisAddr)
	if err != nil {
		if redis != nil {
			_ = redis.Stop()
		}
		return nil, nil, err
	}
	return sys, func() error {
		err := sys.Stop()
		if redis != nil {
			err = errors.Join(err, redis.Stop())
		}
		return err
	}, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func writeReport(rep *harness.Report, dir string, stdout io.Writer) error {
	plots, err := rep.WritePlots(dir)
	if err != nil {
		return err
	}
	rep.Plots = plots
	md, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return err
	}
	defer md.Close()
	if err := rep.WriteMarkdown(io.MultiWriter(md, stdout)); err != nil {
		return err
	}
	js, err := os.Create(filepath.Join(dir, "report.json"))
	if err != nil {
		return err
	}
	defer js.Close()
	return rep.WriteJSON(js)
}
