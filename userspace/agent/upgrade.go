package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/steer"
	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/server"
)

// upgradeReadyEnv names the environment variable that tells a weir started
// by Upgrade which inherited file descriptor to write "ready <pid>\n" to
// once its listeners serve.
const upgradeReadyEnv = "WEIR_UPGRADE_READY_FD"

// upgradeTimeout bounds how long the old process waits for the new one.
const upgradeTimeout = 30 * time.Second

// upgradeSettle is how long the old process keeps accepting after the new
// one is ready. New connections already go to the new sockets (the
// reuseport program, or the SOCKMAP with sk_lookup); this covers handshakes
// that began on the old socket, so closing it resets nothing.
const upgradeSettle = 250 * time.Millisecond

// upgrading makes a second SIGUSR2 during an upgrade a no-op.
var upgrading atomic.Bool

// upgradeSignal returns the channel SIGUSR2 arrives on; stop with signal.Stop.
func upgradeSignal() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	return c
}

// upgradeOnSignal runs Upgrade for SIGUSR2 and reports whether this process
// should now drain and exit (the new one serves), or keep serving because
// the new one did not come up.
func (a *Agent) upgradeOnSignal() bool {
	a.log.Info("SIGUSR2: starting a new weir to take over the listeners")
	pid, err := a.Upgrade()
	if err != nil {
		a.log.Error("upgrade failed; this process keeps serving", "err", err.Error())
		return false
	}
	a.log.Info("upgrade: new process ready; draining in-flight requests", "pid", pid)
	return true
}

// Upgrade starts a copy of this process's executable (the file now at its
// path, so a replaced binary is the new version) with the same arguments,
// and waits until it serves: it binds the same addresses beside this
// process's sockets (SO_REUSEPORT), takes over new connections, and writes
// "ready" to a pipe it inherited. Upgrade then keeps accepting for
// upgradeSettle and returns the new process's pid; the caller drains and
// exits. If the new process fails or is not ready within upgradeTimeout it
// is killed and this process keeps serving.
func (a *Agent) Upgrade() (int, error) {
	if !upgrading.CompareAndSwap(false, true) {
		return 0, errors.New("upgrade: already in progress")
	}
	pid, err := a.upgrade()
	if err != nil {
		upgrading.Store(false)
		return 0, err
	}
	return pid, nil
}

func (a *Agent) upgrade() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("upgrade: executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("upgrade: pipe: %w", err)
	}
	defer r.Close()
	addrs := map[string]string{server.AdminSocket: a.adminLn.Addr().String()}
	for _, s := range a.server.Sockets() {
		addrs[s.Name] = s.Listener.Addr().String()
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(upgradeEnviron(os.Environ()),
		upgradeReadyEnv+"=3", // ExtraFiles[0]
		server.UpgradeAddrsEnv+"="+server.FormatUpgradeAddrs(addrs))
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout = fileOr(a.opts.Stdout, os.Stdout)
	cmd.Stderr = fileOr(a.opts.Stderr, os.Stderr)
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("upgrade: start %s: %w", exe, err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		switch {
		case strings.HasPrefix(line, "ready"):
			ready <- nil
		case err == nil || errors.Is(err, io.EOF):
			ready <- fmt.Errorf("closed the readiness pipe without reporting ready (%q)", line)
		default:
			ready <- err
		}
	}()
	fail := func(err error) (int, error) {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("upgrade: new process %d: %w", cmd.Process.Pid, err)
	}
	select {
	case err := <-ready:
		if err != nil {
			return fail(err)
		}
	case err := <-exited:
		return 0, fmt.Errorf("upgrade: new process %d exited before it was ready: %v", cmd.Process.Pid, err)
	case <-time.After(upgradeTimeout):
		return fail(fmt.Errorf("not ready after %s", upgradeTimeout))
	}
	time.Sleep(upgradeSettle)
	return cmd.Process.Pid, nil
}

// upgradeEnviron drops a predecessor's upgrade variables from env.
func upgradeEnviron(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, upgradeReadyEnv+"=") || strings.HasPrefix(kv, server.UpgradeAddrsEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// fileOr returns w when it is an *os.File (the child writes to it
// directly), else def.
func fileOr(w io.Writer, def *os.File) *os.File {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return def
}

// notifyUpgradeParent tells the weir that started this one by Upgrade that
// the listeners serve, and forgets the upgrade variables so a later upgrade
// of this process starts clean.
func notifyUpgradeParent() error {
	v, ok := os.LookupEnv(upgradeReadyEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(upgradeReadyEnv)
	os.Unsetenv(server.UpgradeAddrsEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("upgrade: %s=%q is not an inherited file descriptor", upgradeReadyEnv, v)
	}
	f := os.NewFile(uintptr(fd), "upgrade-ready")
	defer f.Close()
	if _, err := fmt.Fprintf(f, "ready %d\n", os.Getpid()); err != nil {
		return fmt.Errorf("upgrade: tell the old process: %w", err)
	}
	return nil
}

// steering is the agent's kernel connection steering: nil Steer when it
// does not run (no rules, dataplane.mode off, or unavailable in auto mode),
// and the listeners still bind with SO_REUSEPORT.
type steering struct {
	steer *steer.Steer
}

// startSteering runs once Start has bound and serves every listener: it
// loads the sk_lookup steering when dataplane.steer has rules and the
// kernel allows it, puts the listening sockets in the SOCKMAP (in a weir
// started by Upgrade, that moves the new connections to this process),
// then tells an upgrading parent to drain. It is the one call Start makes
// for steering and upgrades; Shutdown closes the steering handles (the
// pinned program keeps steering to the next process's sockets).
func (a *Agent) startSteering(cfg *config.Config) (*steering, error) {
	st, err := a.loadSteering(cfg)
	if err != nil {
		return nil, err
	}
	// systemd first: it must follow the main PID to this process before
	// the old one exits.
	if err := notifySystemd(); err != nil {
		a.log.Warn("cannot notify systemd", "err", err.Error())
	}
	if err := notifyUpgradeParent(); err != nil {
		return nil, err
	}
	return st, nil
}

// notifySystemd tells a Type=notify unit that weir is ready and that this
// process is now its main process (sd_notify READY=1 and MAINPID), so after
// a SIGUSR2 upgrade systemd tracks the new process and does not stop the
// service when the old one exits (the unit needs NotifyAccess=all, as the
// new process is not the main one yet when it says so). Without
// NOTIFY_SOCKET it does nothing.
func notifySystemd() error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "READY=1\nMAINPID=%d\n", os.Getpid()); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

func (a *Agent) loadSteering(cfg *config.Config) (*steering, error) {
	log := a.log.With("component", "steer")
	features := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weir_dataplane_feature",
		Help: "Kernel features the data plane can use (1) or not (0); feature=\"guard\" is whether the kernel guard runs.",
	}, []string{"feature"})
	if existing, err := register(a.reg, features, false); err != nil {
		return nil, err
	} else if gv, ok := existing.(*prometheus.GaugeVec); ok {
		features = gv
	}
	running := features.WithLabelValues("steer")
	running.Set(0)
	rules := cfg.Dataplane.Steer.Rules
	if len(rules) == 0 || cfg.Dataplane.Mode == "off" {
		log.Debug("kernel steering off (no dataplane.steer.rules, or dataplane.mode off); listeners bind with SO_REUSEPORT")
		// Steering an earlier weir left pinned would go on steering to its
		// (closing) sockets: this config asks for none.
		removed, err := steer.Remove(os.Getenv(dataplaneRootEnv))
		switch {
		case err != nil && errors.Is(err, os.ErrPermission):
			log.Debug("cannot check for pinned kernel steering", "err", err.Error())
		case err != nil:
			log.Warn("cannot remove the kernel steering an earlier weir left pinned", "err", err.Error())
		case removed:
			log.Info("removed the kernel steering an earlier weir left pinned: this config has no dataplane.steer rules")
		}
		return &steering{}, nil
	}
	s, err := steer.New(steer.Options{Root: os.Getenv(dataplaneRootEnv), Logger: log})
	if err != nil {
		if cfg.Dataplane.Mode == "auto" && dataplane.Unavailable(err) {
			log.Warn("kernel steering unavailable; plain binds with SO_REUSEPORT (upgrades still overlap, dataplane.steer rules are not in force)", "err", err.Error())
			return &steering{}, nil
		}
		return nil, err
	}
	fail := func(err error) (*steering, error) {
		s.Close()
		return nil, err
	}
	if err := s.Sync(steerDesired(cfg)); err != nil {
		return fail(err)
	}
	for _, sock := range a.server.Sockets() {
		sc, ok := sock.Listener.(syscall.Conn)
		if !ok {
			continue
		}
		if err := s.Register(sock.Name, sc); err != nil {
			return fail(err)
		}
	}
	var warned atomic.Bool
	if _, err := register(a.reg, s.Collector(func(err error) {
		if warned.CompareAndSwap(false, true) {
			log.Warn("steering counters unreadable; the scrape carries no weir_dataplane_steer* counters", "err", err.Error())
		}
	}), true); err != nil {
		return fail(err)
	}
	a.closers = append(a.closers, s.Close)
	running.Set(1)
	log.Info("kernel steering running", "rules", len(rules), "tenant_listeners", len(cfg.Dataplane.Steer.Tenants))
	return &steering{steer: s}, nil
}

// syncSteering applies a reloaded config's dataplane.steer and tenant
// sources to the running steering. The listening sockets do not change on a
// reload, so a rule for a listener this process has not bound counts
// no_socket misses until the next upgrade; steering that is not running
// (no rules at start, unavailable, mode off) starts only with an upgrade.
// Reload calls it after the guard's Sync.
func (a *Agent) syncSteering(cfg *config.Config) {
	if a.steer == nil || a.steer.steer == nil {
		if len(cfg.Dataplane.Steer.Rules) > 0 {
			a.log.Warn("dataplane.steer rules take effect on the next upgrade (SIGUSR2) or restart: kernel steering is not running in this process")
		}
		return
	}
	if err := a.steer.steer.Sync(steerDesired(cfg)); err != nil {
		a.log.Error("kernel steering sync failed; the kernel keeps the rules it had, possibly partly updated, until a sync succeeds", "err", err.Error())
	}
}

// steerDesired is the steering a validated config asks for.
func steerDesired(c *config.Config) steer.Desired {
	var d steer.Desired
	for _, r := range c.Dataplane.Steer.Rules {
		sr := steer.Rule{Listener: r.Listener}
		for _, s := range r.Destinations {
			p, _ := netip.ParsePrefix(s)
			sr.Destinations = append(sr.Destinations, p)
		}
		for _, s := range r.Ports {
			first, last, _ := config.ParsePortRange(s)
			sr.Ports = append(sr.Ports, steer.PortRange{First: first, Last: last})
		}
		d.Rules = append(d.Rules, sr)
	}
	for _, st := range c.Dataplane.Steer.Tenants {
		cl := steer.Class{Name: st.Tenant, Listener: st.Listener}
		for _, t := range c.Tenants {
			if t.Name != st.Tenant {
				continue
			}
			for _, s := range t.Sources {
				p, _ := netip.ParsePrefix(s)
				cl.Sources = append(cl.Sources, p)
			}
		}
		d.Classes = append(d.Classes, cl)
	}
	return d
}
