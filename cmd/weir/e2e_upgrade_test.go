package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/internal/weirtest"
)

// upgradeLoad is the steady load of the upgrade tests: rate requests per
// second, every other one streamed, for duration, from up to workers
// concurrent clients with keep-alive connections.
const (
	upgradeRate     = 400
	upgradeDuration = 4 * time.Second
	upgradeWorkers  = 32
	upgradeSwitchAt = 1500 * time.Millisecond
)

// upgradeConfig is a weir config on the given listener and admin addresses
// with one provider at upURL and extra appended (e.g. a dataplane section).
func upgradeConfig(upURL, extra string) func(public, admin string) string {
	return func(public, admin string) string {
		return fmt.Sprintf(`version: 1
listeners: [{name: public, address: %q}]
admin: {address: %q}
server: {shutdown_timeout: 10s}
providers:
  - {name: primary, type: openai, base_url: "%s/v1", api_key: "k"}
models:
  - name: weir-test
    targets: [{provider: primary, model: mock-gpt}]
%s`, public, admin, upURL, extra)
	}
}

// upgradeUnderLoad starts weir on cfg, puts the steady load on the URL
// target(weir) returns and sends SIGUSR2 during it. It checks no request
// failed and the old process exited, and returns the new process.
func upgradeUnderLoad(t *testing.T, cfg func(public, admin string) string, oo ownedOptions, target func(*owned) string) *owned {
	t.Helper()
	old := startOwned(t, cfg("127.0.0.1:0", "127.0.0.1:0"), oo)
	base := target(old)
	res := runLoad(t, base, func() { old.signal(syscall.SIGUSR2) }, nsOf(oo)...)
	if err := old.wait(15 * time.Second); err != nil {
		t.Fatalf("old weir after SIGUSR2: %v\n%s", err, old.log())
	}
	pid := old.childPID(t)
	t.Cleanup(func() { stopPID(t, pid) })
	t.Logf("SIGUSR2 upgrade: %d requests, %d failed (%s), %d ticks skipped by a saturated generator", res.total, res.failed, res.sample(), res.skipped)
	if res.total < res.skipped {
		t.Errorf("the load generator offered only %d requests (%d ticks skipped): the run did not exercise the upgrade", res.total, res.skipped)
	}
	if res.failed != 0 {
		t.Errorf("upgrade under load: %d of %d requests failed: %s\n%s", res.failed, res.total, res.sample(), old.log())
	}
	// The new process serves the same URL.
	c := &http.Client{Transport: &http.Transport{DialContext: dialerOf(oo)}, Timeout: 10 * time.Second}
	if err := oneRequest(c, base, chat, false); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	return old
}

// restartUnderLoad is the same run with a plain stop and start on the same
// addresses; it returns the failures the load saw.
func restartUnderLoad(t *testing.T, cfg func(public, admin string) string, oo ownedOptions, target func(*owned) string) *loadResult {
	t.Helper()
	first := startOwned(t, cfg("127.0.0.1:0", "127.0.0.1:0"), oo)
	public, admin := first.listener("public"), first.admin()
	res := runLoad(t, target(first), func() {
		first.signal(syscall.SIGTERM)
		if err := first.wait(15 * time.Second); err != nil {
			t.Errorf("first weir: %v", err)
		}
		startOwned(t, cfg(public, admin), oo)
	}, nsOf(oo)...)
	t.Logf("plain stop/start: %d requests, %d failed (%s)", res.total, res.failed, res.sample())
	if res.failed == 0 {
		t.Errorf("stop/start under load: no request failed out of %d; the load does not cover the switch", res.total)
	}
	return res
}

func nsOf(oo ownedOptions) []*netnstest.NS {
	if oo.ns == nil {
		return nil
	}
	return []*netnstest.NS{oo.ns}
}

func dialerOf(oo ownedOptions) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if oo.ns == nil {
		return (&net.Dialer{}).DialContext
	}
	return nsDialer(oo.ns)
}

func publicURL(o *owned) string { return "http://" + o.listener("public") }

// TestE2EUpgradeUnderLoad replaces a running weir under steady streaming and
// non-streaming load twice, without kernel steering (plain binds with
// SO_REUSEPORT): with SIGUSR2 (the new process binds beside the old one,
// takes the new connections, the old one drains) no request may fail; with a
// plain stop and start on the same ports, the same load must see failures
// (that is what the upgrade path avoids; if it saw none, the load would not
// be exercising the switch).
func TestE2EUpgradeUnderLoad(t *testing.T) {
	_, upURL := mock(t, mockupstream.Options{Words: 12, ChunkDelay: 2 * time.Millisecond})
	cfg := upgradeConfig(upURL, "")
	t.Run("sigusr2", func(t *testing.T) {
		// Stand in for systemd's notify socket: the main PID must move to
		// the new process before the old one exits.
		notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "notify"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer notify.Close()
		old := upgradeUnderLoad(t, cfg, ownedOptions{env: []string{"NOTIFY_SOCKET=" + notify.LocalAddr().String()}}, publicURL)
		if !strings.Contains(old.log(), `"msg":"upgrade: new process ready; draining in-flight requests"`) {
			t.Errorf("no upgrade log line:\n%s", old.log())
		}
		var got []string
		buf := make([]byte, 512)
		for range 2 {
			notify.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := notify.Read(buf)
			if err != nil {
				t.Fatalf("sd_notify messages %q, then: %v", got, err)
			}
			got = append(got, string(buf[:n]))
		}
		want := []string{
			fmt.Sprintf("READY=1\nMAINPID=%d\n", old.cmd.Process.Pid),
			fmt.Sprintf("READY=1\nMAINPID=%d\n", old.childPID(t)),
		}
		if !slices.Equal(got, want) {
			t.Errorf("sd_notify messages %q, want %q", got, want)
		}
	})
	t.Run("stop-start", func(t *testing.T) { restartUnderLoad(t, cfg, ownedOptions{}, publicURL) })
}

// TestPrivilegedE2EUpgradeFallback is weir without the steering program:
// steering rules configured, but run as nobody, so sk_lookup cannot load.
// weir says so once, serves with plain binds, exports
// weir_dataplane_feature{feature="steer"} 0, and a SIGUSR2 upgrade under
// load still loses nothing (SO_REUSEPORT overlap).
// Root is needed to start it as nobody.
func TestPrivilegedE2EUpgradeFallback(t *testing.T) {
	privileged.Require(t)
	_, upURL := mock(t, mockupstream.Options{Words: 12, ChunkDelay: 2 * time.Millisecond})
	cfg := upgradeConfig(upURL, `dataplane: {mode: auto, steer: {rules: [{listener: public, destinations: ["10.77.0.0/24"], ports: ["8000-8009"]}]}}`)
	old := upgradeUnderLoad(t, cfg, ownedOptions{nobody: true}, publicURL)
	log := old.log()
	if n := strings.Count(log, "kernel steering unavailable; plain binds with SO_REUSEPORT"); n != 2 { // old and new process
		t.Errorf("fallback logged %d times, want once per process:\n%s", n, log)
	}
	resp, err := http.Get("http://" + old.admin() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `weir_dataplane_feature{feature="steer"} 0`) {
		t.Errorf("no steer=0 feature gauge on the new process:\n%s", body)
	}
}

// TestPrivilegedE2EUpgradeSteered runs weir in a namespace with sk_lookup
// steering a whole prefix and port range (nothing bound there) to its
// listener, and upgrades it under load through that steered address: the new
// process swaps its socket into the SOCKMAP and nothing fails. A plain stop
// and start leaves the slot empty in between, and the load sees it.
func TestPrivilegedE2EUpgradeSteered(t *testing.T) {
	privileged.Require(t)
	ns := netnstest.New(t, "weirup")
	// AnyIP: the whole prefix is local to the namespace, nothing bound to it.
	var out []byte
	if err := ns.Do(func() error {
		var err error
		out, err = exec.Command("ip", "route", "add", "local", "10.77.0.0/24", "dev", "lo").CombinedOutput()
		return err
	}); err != nil {
		t.Fatalf("local route: %v %s", err, out)
	}
	// The upstream mock listens inside the namespace too.
	up := mockupstream.New(mockupstream.Options{Words: 12, ChunkDelay: 2 * time.Millisecond})
	var upURL string
	var closeUp func() error
	if err := ns.Do(func() error {
		var err error
		upURL, closeUp, err = up.Listen("127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeUp(); up.Close() })
	root := "/sys/fs/bpf/weir-e2e-upgrade-" + netnstest.Suffix()
	t.Cleanup(func() { os.RemoveAll(root) })
	oo := ownedOptions{ns: ns, env: []string{"WEIR_DATAPLANE_ROOT=" + root}}
	cfg := upgradeConfig(upURL, `dataplane: {mode: auto, steer: {rules: [{listener: public, destinations: ["10.77.0.0/24"], ports: ["8000-8009"]}]}}`)
	steered := func(*owned) string { return "http://10.77.0.5:8003" } // nothing is bound there
	t.Run("sigusr2", func(t *testing.T) {
		old := upgradeUnderLoad(t, cfg, oo, steered)
		if n := strings.Count(old.log(), `"msg":"kernel steering running"`); n != 2 {
			t.Fatalf("kernel steering running in %d processes, want old and new:\n%s", n, old.log())
		}
		c := &http.Client{Transport: &http.Transport{DialContext: nsDialer(ns)}}
		resp, err := c.Get("http://" + old.admin() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `weir_dataplane_steered_total{listener="public"}`) || !strings.Contains(string(body), `weir_dataplane_feature{feature="steer"} 1`) {
			t.Errorf("steering metrics missing on the new process:\n%s", body)
		}
	})
	t.Run("stop-start", func(t *testing.T) { restartUnderLoad(t, cfg, oo, steered) })
	t.Run("rules-removed", func(t *testing.T) {
		// An upgrade to a config without rules takes the steering away.
		old := startOwned(t, cfg("127.0.0.1:0", "127.0.0.1:0"), oo)
		c := &http.Client{Transport: &http.Transport{DialContext: nsDialer(ns)}, Timeout: 10 * time.Second}
		if err := oneRequest(c, steered(old), chat, false); err != nil {
			t.Fatalf("before: %v", err)
		}
		path := old.cmd.Args[len(old.cmd.Args)-1]
		if err := os.WriteFile(path, []byte(upgradeConfig(upURL, "")("127.0.0.1:0", "127.0.0.1:0")), 0o644); err != nil {
			t.Fatal(err)
		}
		old.signal(syscall.SIGUSR2)
		if err := old.wait(20 * time.Second); err != nil {
			t.Fatalf("upgrade: %v\n%s", err, old.log())
		}
		pid := old.childPID(t)
		t.Cleanup(func() { stopPID(t, pid) })
		if len(old.logLines("removed the kernel steering an earlier weir left pinned: this config has no dataplane.steer rules")) != 1 {
			t.Errorf("no removal logged:\n%s", old.log())
		}
		c.CloseIdleConnections()
		if err := oneRequest(c, steered(old), chat, false); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("steered address after the rules were removed: %v, want connection refused", err)
		}
		if err := oneRequest(c, publicURL(old), chat, false); err != nil {
			t.Errorf("the listener's own address after the upgrade: %v", err)
		}
	})
}

// loadResult counts a load run.
type loadResult struct {
	total, failed int64
	// skipped counts ticks when every worker was busy (the machine, not
	// weir, was the limit): no request was offered, so none can fail.
	skipped int64
	mu      sync.Mutex
	errs    map[string]int
}

func (r *loadResult) fail(err string) {
	atomic.AddInt64(&r.failed, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.errs = map[string]int{}
	}
	r.errs[err]++
}

// sample summarises the failure kinds.
func (r *loadResult) sample() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		return "no errors"
	}
	var b strings.Builder
	for e, n := range r.errs {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d× %s", n, e)
		if b.Len() > 600 {
			break
		}
	}
	return b.String()
}

// runLoad sends upgradeRate requests/s to base for upgradeDuration and calls
// switchFn once at upgradeSwitchAt (in its own goroutine; the load goes on).
func runLoad(t *testing.T, base string, switchFn func(), ns ...*netnstest.NS) *loadResult {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: upgradeWorkers}
	if len(ns) > 0 {
		tr.DialContext = nsDialer(ns[0])
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res := &loadResult{}
	tokens := make(chan int, upgradeWorkers)
	var wg sync.WaitGroup
	for range upgradeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tokens {
				stream := i%2 == 1
				body := chat
				if stream {
					body = chatStream
				}
				atomic.AddInt64(&res.total, 1)
				if err := oneRequest(client, base, body, stream); err != nil {
					res.fail(err.Error())
				}
			}
		}()
	}
	switched := make(chan struct{})
	go func() {
		defer close(switched)
		time.Sleep(upgradeSwitchAt)
		switchFn()
	}()
	tick := time.NewTicker(time.Second / upgradeRate)
	deadline := time.After(upgradeDuration)
	for i := 0; ; i++ {
		select {
		case <-tick.C:
			select {
			case tokens <- i:
			default: // every worker busy: the generator cannot offer this one
				atomic.AddInt64(&res.skipped, 1)
			}
			continue
		case <-deadline:
		}
		break
	}
	tick.Stop()
	close(tokens)
	wg.Wait()
	<-switched
	return res
}

// nsDialer dials from inside the namespace.
func nsDialer(ns *netnstest.NS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// oneRequest posts body and checks a complete 200 answer.
func oneRequest(c *http.Client, base, body string, stream bool) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	// As the OpenAI and Anthropic SDKs do, mark the POST retry-safe, so the
	// transport resends it when the server closed an idle keep-alive
	// connection before reading it (the HTTP/1.1 race every draining server
	// has, the old weir's included). A refused or reset connect is not
	// retried: that is the failure the upgrade avoids.
	req.Header.Set("Idempotency-Key", fmt.Sprintf("upgrade-%d", time.Now().UnixNano()))
	resp, err := c.Do(req)
	if err != nil {
		var se syscall.Errno
		if errors.As(err, &se) {
			return fmt.Errorf("transport: %s", se.Error())
		}
		return fmt.Errorf("transport: %v", stripAddrs(err.Error()))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read body: %v", stripAddrs(err.Error()))
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if stream && !strings.Contains(string(b), "data: [DONE]") {
		return errors.New("stream without [DONE]")
	}
	if !stream && !strings.Contains(string(b), `"choices"`) {
		return errors.New("answer without choices")
	}
	return nil
}

// stripAddrs drops the ephemeral ports from an error so equal failures group.
func stripAddrs(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// owned is a weir this test runs itself (not through weirtest.Proc): after
// an upgrade the new process outlives the one started here, and it inherits
// the log file, which an exec.Cmd pipe would keep open past the old one's exit.
type owned struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// ownedOptions tune startOwned.
type ownedOptions struct {
	env []string
	// ns runs weir in this network namespace (it is forked from a thread
	// inside it).
	ns *netnstest.NS
	// nobody runs weir as uid/gid 65534, from a copy of the binary it may
	// execute (so an upgrade can exec it again).
	nobody bool
}

func startOwned(t *testing.T, config string, opts ...ownedOptions) *owned {
	t.Helper()
	var oo ownedOptions
	if len(opts) > 0 {
		oo = opts[0]
	}
	dir, err := os.MkdirTemp("", "weir-upgrade-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := weirtest.Binary(t)
	if oo.nobody {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin = copyExecutable(t, bin, filepath.Join(dir, "weir"))
	}
	path := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "weir.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	o := &owned{logPath: logf.Name(), done: make(chan struct{})}
	o.cmd = exec.Command(bin, "-config", path)
	o.cmd.Env = append(os.Environ(), oo.env...)
	if oo.nobody {
		o.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	o.cmd.Stdout = devnull
	o.cmd.Stderr = logf
	start := o.cmd.Start
	if oo.ns != nil {
		start = func() error { return oo.ns.Do(o.cmd.Start) }
	}
	if err := start(); err != nil {
		t.Fatal(err)
	}
	go func() { o.err = o.cmd.Wait(); close(o.done) }()
	t.Cleanup(func() {
		_ = o.cmd.Process.Signal(syscall.SIGTERM)
		if o.wait(20*time.Second) != nil && t.Failed() {
			t.Logf("weir log:\n%s", o.log())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(o.log(), `"msg":"weir started"`) {
		select {
		case <-o.done:
			t.Fatalf("weir exited before it started: %v\n%s", o.err, o.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("weir not started after 30s\n%s", o.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return o
}

// copyExecutable copies the binary at src to dst, mode 0755.
func copyExecutable(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func (o *owned) log() string {
	b, _ := os.ReadFile(o.logPath)
	return string(b)
}

func (o *owned) signal(sig os.Signal) { _ = o.cmd.Process.Signal(sig) }

// wait waits for the process to exit and returns its exit error.
func (o *owned) wait(d time.Duration) error {
	select {
	case <-o.done:
		return o.err
	case <-time.After(d):
		_ = o.cmd.Process.Kill()
		<-o.done
		return fmt.Errorf("did not exit within %s", d)
	}
}

// logLines decodes the JSON log lines with msg.
func (o *owned) logLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(o.log()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (o *owned) listener(name string) string {
	for _, m := range o.logLines("listening") {
		if m["listener"] == name {
			return m["address"].(string)
		}
	}
	return ""
}

func (o *owned) admin() string {
	for _, m := range o.logLines("weir started") {
		return m["admin"].(string)
	}
	return ""
}

// childPID is the pid of the process an upgrade started.
func (o *owned) childPID(t *testing.T) int {
	t.Helper()
	for _, m := range o.logLines("upgrade: new process ready; draining in-flight requests") {
		if pid, ok := m["pid"].(float64); ok {
			return int(pid)
		}
	}
	t.Fatalf("no upgrade pid in the log:\n%s", o.log())
	return 0
}

// stopPID sends SIGTERM to a process this test did not start and waits
// (bounded) until it is gone.
func stopPID(t *testing.T, pid int) {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return
	}
	for range 400 {
		if syscall.Kill(pid, 0) != nil || zombie(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("upgraded weir %d did not exit within 20s of SIGTERM", pid)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// TestE2EUpgradeFailureKeepsServing: when the new process cannot come up
// (here its config no longer validates), the old one logs why and keeps
// serving, and a later SIGUSR2 with a good config upgrades normally.
func TestE2EUpgradeFailureKeepsServing(t *testing.T) {
	_, upURL := mock(t, mockupstream.Options{Words: 3})
	good := upgradeConfig(upURL, "")("127.0.0.1:0", "127.0.0.1:0")
	old := startOwned(t, good)
	base := publicURL(old)
	path := old.cmd.Args[len(old.cmd.Args)-1]
	if err := os.WriteFile(path, []byte(good+"bogus_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old.signal(syscall.SIGUSR2)
	deadline := time.Now().Add(20 * time.Second)
	for len(old.logLines("upgrade failed; this process keeps serving")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no upgrade failure logged:\n%s", old.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if err := oneRequest(c, base, chat, false); err != nil {
		t.Fatalf("old weir after a failed upgrade: %v", err)
	}
	select {
	case <-old.done:
		t.Fatalf("old weir exited after a failed upgrade: %v", old.err)
	default:
	}

	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	old.signal(syscall.SIGUSR2)
	if err := old.wait(20 * time.Second); err != nil {
		t.Fatalf("second upgrade: %v\n%s", err, old.log())
	}
	pid := old.childPID(t)
	t.Cleanup(func() { stopPID(t, pid) })
	if err := oneRequest(c, base, chatStream, true); err != nil {
		t.Fatalf("after the second upgrade: %v", err)
	}
}
