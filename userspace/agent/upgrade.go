package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

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

// steering is the agent's kernel connection steering: the listening
// sockets registered in the steer SOCKMAP, when sk_lookup runs.
type steering struct{}

// startSteering runs once Start has bound and serves every listener: it
// registers the listening sockets for kernel steering when configured and
// available, then, in a weir started by Upgrade, tells the old process to
// drain. It is the one call Start makes for steering and upgrades.
func (a *Agent) startSteering(cfg *config.Config) (*steering, error) {
	if err := notifyUpgradeParent(); err != nil {
		return nil, err
	}
	return &steering{}, nil
}
