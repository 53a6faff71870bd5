package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
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

// TestE2EUpgradeUnderLoad replaces a running weir under steady streaming and
// non-streaming load twice: with SIGUSR2 (the new process binds beside the
// old one with SO_REUSEPORT, takes the new connections, the old one drains)
// no request may fail; with a plain stop and start on the same ports, the
// same load must see failures (that is what the upgrade path avoids; if it
// saw none, the load would not be exercising the switch).
func TestE2EUpgradeUnderLoad(t *testing.T) {
	_, upURL := mock(t, mockupstream.Options{Words: 12, ChunkDelay: 2 * time.Millisecond})
	cfg := func(public, admin string) string {
		return fmt.Sprintf(`version: 1
listeners: [{name: public, address: %q}]
admin: {address: %q}
server: {shutdown_timeout: 10s}
providers:
  - {name: primary, type: openai, base_url: "%s/v1", api_key: "k"}
models:
  - name: weir-test
    targets: [{provider: primary, model: mock-gpt}]
`, public, admin, upURL)
	}

	t.Run("sigusr2", func(t *testing.T) {
		old := startOwned(t, cfg("127.0.0.1:0", "127.0.0.1:0"))
		base := "http://" + old.listener("public")
		res := runLoad(t, base, func() {
			old.signal(syscall.SIGUSR2)
		})
		if err := old.wait(15 * time.Second); err != nil {
			t.Fatalf("old weir after SIGUSR2: %v\n%s", err, old.log())
		}
		pid := old.childPID(t)
		t.Cleanup(func() { stopPID(t, pid) })
		t.Logf("SIGUSR2 upgrade: %d requests, %d failed (%s)", res.total, res.failed, res.sample())
		if res.failed != 0 {
			t.Errorf("upgrade under load: %d of %d requests failed: %s\n%s", res.failed, res.total, res.sample(), old.log())
		}
		// The new process serves on the old address and is the one ready.
		resp, body := post(t, base+"/v1/chat/completions", chat)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after the upgrade: %d %s", resp.StatusCode, body)
		}
		if !strings.Contains(old.log(), `"msg":"upgrade: new process ready; draining in-flight requests"`) {
			t.Errorf("no upgrade log line:\n%s", old.log())
		}
	})

	t.Run("stop-start", func(t *testing.T) {
		first := startOwned(t, cfg("127.0.0.1:0", "127.0.0.1:0"))
		public, admin := first.listener("public"), first.admin()
		var second *owned
		res := runLoad(t, "http://"+public, func() {
			first.signal(syscall.SIGTERM)
			if err := first.wait(15 * time.Second); err != nil {
				t.Errorf("first weir: %v", err)
			}
			second = startOwned(t, cfg(public, admin))
		})
		if second == nil {
			t.Fatal("second weir did not start")
		}
		t.Logf("plain stop/start: %d requests, %d failed (%s)", res.total, res.failed, res.sample())
		if res.failed == 0 {
			t.Errorf("stop/start under load: no request failed out of %d; the load does not cover the switch", res.total)
		}
	})
}

// loadResult counts a load run.
type loadResult struct {
	total, failed int64
	mu            sync.Mutex
	errs          map[string]int
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
func runLoad(t *testing.T, base string, switchFn func()) *loadResult {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: upgradeWorkers}
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
			default: // every worker busy: the run is over capacity; count it
				atomic.AddInt64(&res.total, 1)
				res.fail("load generator saturated")
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

func startOwned(t *testing.T, config string) *owned {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "weir.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	o := &owned{logPath: logf.Name(), done: make(chan struct{})}
	o.cmd = exec.Command(weirtest.Binary(t), "-config", path)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	o.cmd.Stdout = devnull
	o.cmd.Stderr = logf
	if err := o.cmd.Start(); err != nil {
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
