// Package agent wires weir together: it loads the configuration, compiles
// snapshots, starts the listeners, the admin endpoints and the data plane,
// reloads on SIGHUP and on file change, and drains on SIGTERM.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/userspace/admin"
	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/metrics"
	"github.com/weir-gateway/weir/userspace/proxy"
	"github.com/weir-gateway/weir/userspace/ratelimit"
	"github.com/weir-gateway/weir/userspace/server"
	"github.com/weir-gateway/weir/userspace/snapshot"
	"github.com/weir-gateway/weir/userspace/tokens"
)

// Options are the agent's command-line choices.
type Options struct {
	// ConfigPath is the YAML file; empty runs the embedded default config.
	ConfigPath string
	// LogLevel overrides log.level from the config when set.
	LogLevel string
	// Stderr receives the process log (default os.Stderr).
	Stderr io.Writer
	// Stdout receives the access log when it is "stdout" (default os.Stdout).
	Stdout io.Writer
	// PollInterval is how often the config file is checked for changes.
	PollInterval time.Duration
}

// Agent is one running weir.
type Agent struct {
	opts     Options
	log      *slog.Logger
	level    *slog.LevelVar
	reg      *prometheus.Registry
	metrics  *metrics.Metrics
	store    snapshot.Store
	state    admin.State
	deps     snapshot.Deps
	health   *proxy.Health
	access   *accessLog
	mu       sync.Mutex // serializes reloads
	lastHash [32]byte
	gen      uint64
	server   *server.Server
	adminSrv *http.Server
	adminLn  net.Listener
	closers  []func() error
	admit    *admission
	datapath dataplane.Datapath
	// kernelMu serializes kernel syncs from reloads and Ingress updates
	// (and the datapath's assignment, which an Ingress update may race).
	kernelMu sync.Mutex
	steer    *steering
	plain    *plainRoutes
}

// Run starts weir and blocks until ctx ends or SIGTERM/SIGINT arrives, then
// drains in-flight requests and streams.
func Run(ctx context.Context, o Options) error {
	// Signals are caught before the listeners open: a SIGHUP that arrives as
	// soon as weir is ready must reload, not kill the process.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr2 := upgradeSignal()
	defer signal.Stop(usr2)
	a, err := Start(o)
	if err != nil {
		return err
	}
	var poll <-chan time.Time
	if o.ConfigPath != "" {
		t := time.NewTicker(a.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			a.log.Info("shutting down: draining in-flight requests")
			return a.Shutdown()
		case <-hup:
			a.log.Info("SIGHUP: reloading configuration")
			_ = a.Reload(true)
		case <-poll:
			_ = a.Reload(false)
		case <-usr2:
			if a.upgradeOnSignal() {
				return a.Shutdown()
			}
		}
	}
}

// Start loads the config and starts serving; it returns once every listener is bound.
func Start(o Options) (*Agent, error) {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	a := &Agent{opts: o, level: new(slog.LevelVar), health: proxy.NewHealth()}
	a.log = slog.New(slog.NewJSONHandler(o.Stderr, &slog.HandlerOptions{Level: a.level}))
	raw, cfg, err := a.read()
	if err != nil {
		return nil, err
	}
	a.setLevel(cfg)
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = metrics.New(a.reg)
	a.health.OnChange = func(key string, healthy bool) {
		prov, model, _ := strings.Cut(key, "/")
		v := 0.0
		if healthy {
			v = 1
		}
		if strings.HasPrefix(key, "credential:") {
			return
		}
		a.metrics.UpstreamHealthy.WithLabelValues(prov, model).Set(v)
	}
	a.deps = snapshot.Deps{Kinds: providerKinds(), Transports: snapshot.NewTransports()}
	a.access, err = openAccessLog(cfg.Log.Access, o.Stdout)
	if err != nil {
		return nil, fmt.Errorf("log.access: %w", err)
	}
	a.closers = append(a.closers, a.access.Close)
	a.plain = &plainRoutes{metrics: a.metrics, access: a.access.logger}
	a.closers = append(a.closers, a.plain.close)
	if err := a.startKube(cfg); err != nil {
		a.closeAll()
		return nil, err
	}
	go func() { _ = tokens.Warm() }()

	dp, err := startDataplane(context.Background(), cfg, a.log, a.reg)
	if err != nil {
		a.closeAll()
		return nil, err
	}
	a.kernelMu.Lock()
	a.datapath = dp
	a.kernelMu.Unlock()
	a.closers = append(a.closers, a.datapath.Close)
	rlMetrics := ratelimit.NewMetrics()
	a.reg.MustRegister(rlMetrics.Collectors()...)
	a.admit = &admission{log: a.log.With("component", "ratelimit"), metrics: rlMetrics, blocker: a.datapath, draining: cfg.Server.ShutdownTimeout.D()}
	if err := a.admit.configure(cfg); err != nil {
		a.closeAll()
		return nil, err
	}
	a.closers = append(a.closers, a.admit.close)
	if err := a.apply(raw, cfg); err != nil {
		a.closeAll()
		return nil, err
	}
	if cfg.Kubernetes.Ingress.Enabled {
		// Ingress routes installed before the first snapshot: the kernel
		// guard follows them from here on (kubeRoutes.installed).
		if err := a.syncKernel(cfg); err != nil {
			a.log.Error("kernel guard sync with the kubernetes routes failed; Go enforces them", "err", err.Error())
		}
	}

	h := &proxy.Handler{Store: &a.store, Health: a.health, Metrics: a.metrics, Log: a.log, Access: a.access.logger, Admission: a.admit}
	mux := http.NewServeMux()
	h.Mount(mux)
	a.server, err = server.Start(listenersFor(cfg), cfg.Server, listenerHandler{log: a.log, plain: a.plain, api: mux}, a.log)
	if err != nil {
		a.closeAll()
		return nil, err
	}
	a.server.SetCertificates(a.plain.GetCertificate)
	if err := a.reg.Register(a.server.QUICCollector()); err != nil {
		_ = a.server.Shutdown(context.Background())
		a.closeAll()
		return nil, fmt.Errorf("quic metrics: %w", err)
	}
	a.adminLn, err = server.Listen(server.AdminSocket, cfg.Admin.Address)
	if err != nil {
		_ = a.server.Shutdown(context.Background())
		return nil, fmt.Errorf("admin.address: listen %s: %w", cfg.Admin.Address, err)
	}
	a.adminSrv = &http.Server{
		Handler: metrics.WithPprof(admin.Handler(&a.store, a.reg, &a.state, func(s *snapshot.Snapshot) ([]byte, error) { return s.Config.Redacted() }),
			metrics.PprofEnabled(a.level.Level() <= slog.LevelDebug)),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = a.adminSrv.Serve(a.adminLn) }()
	a.state.SetReady(true)
	if a.steer, err = a.startSteering(cfg); err != nil {
		_ = a.Shutdown()
		return nil, err
	}
	a.log.Info("weir started", "config", configName(o.ConfigPath), "admin", a.adminLn.Addr().String())
	return a, nil
}

func configName(p string) string {
	if p == "" {
		return "(embedded default)"
	}
	return p
}

func (a *Agent) setLevel(cfg *config.Config) {
	lv := cfg.Log.Level
	if a.opts.LogLevel != "" {
		lv = a.opts.LogLevel
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(lv)); err == nil {
		a.level.Set(l)
	}
}

// read loads the config bytes and decodes them.
func (a *Agent) read() ([]byte, *config.Config, error) {
	var raw []byte
	if a.opts.ConfigPath == "" {
		raw = config.Default()
	} else {
		var err error
		raw, err = os.ReadFile(a.opts.ConfigPath)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
	}
	cfg, err := config.Load(raw)
	if err != nil {
		return raw, nil, err
	}
	return raw, cfg, nil
}

// apply compiles cfg and swaps it in.
func (a *Agent) apply(raw []byte, cfg *config.Config) error {
	snap, err := snapshot.Compile(cfg, a.deps, a.gen+1)
	if err != nil {
		return fmt.Errorf("compile config: %w", err)
	}
	routes, err := a.plain.compile(cfg)
	if err != nil {
		return err
	}
	a.gen++
	a.lastHash = sha256.Sum256(raw)
	a.store.Swap(snap)
	a.deps.Transports.Retain(cfg)
	a.plain.install(routes)
	// Export every configured target's circuit state from the start, not
	// only after its first change.
	for _, m := range cfg.Models {
		for _, t := range m.Targets {
			if t.Model == "" {
				continue // passes the client's model through: no bounded label
			}
			a.metrics.UpstreamHealthy.WithLabelValues(t.Provider, t.Model).Set(boolGauge(a.health.Healthy(t.Provider + "/" + t.Model)))
		}
	}
	a.metrics.ReloadSuccess.Set(1)
	a.metrics.ReloadTimestamp.Set(float64(time.Now().Unix()))
	a.state.SetReloadError(nil)
	return nil
}

// Reload re-reads the config file; force reloads even when the bytes did not
// change. A config that fails to load keeps the current snapshot serving.
func (a *Agent) Reload(force bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opts.ConfigPath == "" {
		return nil
	}
	raw, err := os.ReadFile(a.opts.ConfigPath)
	if err != nil {
		return a.reloadFailed(fmt.Errorf("read config: %w", err))
	}
	if !force && sha256.Sum256(raw) == a.lastHash {
		return nil
	}
	cfg, err := config.Load(raw)
	if err != nil {
		return a.reloadFailed(err)
	}
	old := a.store.Load().Config
	if err := a.admit.configure(cfg); err != nil {
		return a.reloadFailed(err)
	}
	if err := a.apply(raw, cfg); err != nil {
		return a.reloadFailed(err)
	}
	if err := a.syncKernel(cfg); err != nil {
		// The L7 config is in force; the kernel converges on the next reload.
		a.log.Error("kernel guard sync failed; L7 limits of the new config are in force", "err", err.Error())
	}
	a.syncSteering(cfg)
	a.setLevel(cfg)
	warnRestartOnly(a.log, old, cfg)
	a.log.Info("configuration reloaded", "generation", a.gen)
	return nil
}

func (a *Agent) reloadFailed(err error) error {
	a.metrics.ReloadSuccess.Set(0)
	a.state.SetReloadError(err)
	a.log.Error("configuration reload failed; the previous configuration keeps serving", "err", err.Error())
	return err
}

// warnRestartOnly logs settings a reload cannot change in place.
func warnRestartOnly(log *slog.Logger, old, next *config.Config) {
	var a, b bytes.Buffer
	for _, l := range old.Listeners {
		fmt.Fprintf(&a, "%s=%s;", l.Name, l.Address)
	}
	for _, l := range next.Listeners {
		fmt.Fprintf(&b, "%s=%s;", l.Name, l.Address)
	}
	if a.String() != b.String() || old.Admin.Address != next.Admin.Address {
		log.Warn("listener and admin addresses change only on restart; the running listeners are kept")
	}
	if old.Log.Access != next.Log.Access {
		log.Warn("log.access changes only on restart")
	}
}

// AdminAddr is the bound admin address.
func (a *Agent) AdminAddr() net.Addr { return a.adminLn.Addr() }

// Addr is the bound address of a client listener.
func (a *Agent) Addr(name string) net.Addr { return a.server.Addr(name) }

// Shutdown stops readiness, drains listeners within server.shutdown_timeout,
// then closes everything.
func (a *Agent) Shutdown() error {
	a.state.SetReady(false)
	snap := a.store.Load()
	ctx, cancel := context.WithTimeout(context.Background(), snap.Config.Server.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	if err := a.server.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	_ = a.adminSrv.Close()
	a.deps.Transports.CloseIdle()
	errs = append(errs, a.closeAll())
	a.log.Info("weir stopped")
	return errors.Join(errs...)
}

// closeAll runs the closers in reverse order of creation.
func (a *Agent) closeAll() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

// listenersFor returns the listeners to open: with dataplane.mode off no
// eBPF is loaded, so HTTP/3 runs on one socket without the steering program.
func listenersFor(cfg *config.Config) []config.Listener {
	ls := slices.Clone(cfg.Listeners)
	if cfg.Dataplane.Mode == "off" {
		for i := range ls {
			ls[i].HTTP3Workers = 1
		}
	}
	return ls
}

// syncKernel makes the kernel guard match cfg and the plain routes in force:
// cfg's own and the Kubernetes routes installed beside them. Reloads and
// installed Ingress updates call it; before the guard runs it does nothing.
func (a *Agent) syncKernel(cfg *config.Config) error {
	a.kernelMu.Lock()
	defer a.kernelMu.Unlock()
	if a.datapath == nil {
		return nil
	}
	return a.datapath.Sync(desired(cfg, a.plain.kernelRoutes(cfg.Routes)))
}
