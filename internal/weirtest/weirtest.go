// Package weirtest runs the real weir binary for end-to-end tests: it builds
// cmd/weir once per test process, starts it on a config with loopback
// listeners on free ports, waits until /readyz answers and stops it at cleanup.
package weirtest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	dirOnce  sync.Once
	buildDir string // where Build puts binaries; Main removes it
	dirErr   error
	builds   sync.Map // package → *build
)

// build is one package's binary, built once per test process.
type build struct {
	once sync.Once
	path string
	err  error
}

// moduleRoot finds the directory holding go.mod, from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Runner is what Main runs: *testing.M.
type Runner interface {
	Run() int
}

// Main runs a package's tests and then removes the binaries Binary built
// for them, so test runs do not leave 100 MB behind in the temporary
// directory each. Packages that call Binary, Weirctl or Start use it from
// their TestMain: os.Exit(weirtest.Main(m)).
func Main(m Runner) int {
	code := m.Run()
	if buildDir != "" {
		if err := os.RemoveAll(buildDir); err != nil {
			fmt.Fprintf(os.Stderr, "weirtest: remove built binaries: %v\n", err)
		}
	}
	return code
}

// Build builds the main package pkg of this module ("./cmd/weir") once per
// test process and returns the binary's path. Set WEIR_E2E_RACE=1 to build
// with the race detector.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	dirOnce.Do(func() { buildDir, dirErr = os.MkdirTemp("", "weirtest-bin-") })
	if dirErr != nil {
		t.Fatal(dirErr)
	}
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, filepath.Base(pkg))
		args := []string{"build", "-o", b.path}
		if os.Getenv("WEIR_E2E_RACE") == "1" {
			args = append(args, "-race")
		}
		c := exec.Command("go", append(args, pkg)...)
		c.Dir = moduleRoot()
		if out, err := c.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Binary builds cmd/weir once and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return Build(t, "./cmd/weir")
}

// Weirctl builds cmd/weirctl once and returns its path.
func Weirctl(t testing.TB) string {
	t.Helper()
	return Build(t, "./cmd/weirctl")
}

// Proc is one running weir.
type Proc struct {
	t          testing.TB
	cmd        *exec.Cmd
	ConfigPath string
	// Listeners maps listener name → "host:port" as bound.
	Listeners map[string]string
	AdminAddr string
	stderr    *SyncBuffer
	stdout    *SyncBuffer
	done      chan struct{}
	exitErr   error
}

// Options tune Start.
type Options struct {
	// Env is added to the process environment ("K=V").
	Env []string
	// Args replace the default arguments ("-config", path).
	Args []string
	// NoWait skips waiting for readiness.
	NoWait bool
}

// Start writes config to a temp file and runs weir on it. Listener and admin
// addresses in the config should use port 0; the bound ports are read from
// weir's log.
func Start(t testing.TB, config string, opts ...Options) *Proc {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	bin := Binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	args := o.Args
	if args == nil {
		args = []string{"-config", path}
	}
	p := &Proc{t: t, ConfigPath: path, Listeners: map[string]string{}, stderr: &SyncBuffer{}, stdout: &SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), o.Env...)
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("weir stderr:\n%s", p.Stderr())
		}
	})
	if !o.NoWait {
		p.waitReady()
	}
	return p
}

func (p *Proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("weir exited before it was ready: %v\n%s", p.exitErr, p.Stderr())
		default:
		}
		p.parseLog()
		if p.AdminAddr != "" {
			resp, err := http.Get("http://" + p.AdminAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("weir not ready after 30s\n%s", p.Stderr())
}

func (p *Proc) parseLog() {
	sc := bufio.NewScanner(strings.NewReader(p.Stderr()))
	for sc.Scan() {
		var line struct {
			Msg      string `json:"msg"`
			Listener string `json:"listener"`
			Address  string `json:"address"`
			Admin    string `json:"admin"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "listening":
			p.Listeners[line.Listener] = line.Address
		case "weir started":
			p.AdminAddr = line.Admin
		}
	}
}

// URL is the base URL ("http://host:port") of a plain listener.
func (p *Proc) URL(listener string) string {
	p.t.Helper()
	addr, ok := p.Listeners[listener]
	if !ok {
		p.t.Fatalf("no listener %q (have %v)", listener, p.Listeners)
	}
	return "http://" + addr
}

// AdminURL is the base URL of the admin listener.
func (p *Proc) AdminURL() string { return "http://" + p.AdminAddr }

// Signal sends sig to weir.
func (p *Proc) Signal(sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal: %v", err)
	}
}

// Stop sends SIGTERM and waits (up to 40s) for weir to exit.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.exitErr
}

// Wait blocks until weir exits and returns its exit error.
func (p *Proc) Wait() error {
	<-p.done
	return p.exitErr
}

// Stderr is everything weir logged so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Stdout is everything weir wrote to stdout (the access log by default).
func (p *Proc) Stdout() string { return p.stdout.String() }

// AccessLog returns the access log lines decoded, waiting up to 2s for at
// least n lines (the log is flushed every 200ms).
func (p *Proc) AccessLog(n int) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		var out []map[string]any
		sc := bufio.NewScanner(strings.NewReader(p.Stdout()))
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" {
				out = append(out, m)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Metrics returns the admin /metrics text.
func (p *Proc) Metrics() string {
	p.t.Helper()
	resp, err := http.Get(p.AdminURL() + "/metrics")
	if err != nil {
		p.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// WriteConfig replaces the config file (for reload tests).
func (p *Proc) WriteConfig(config string) {
	p.t.Helper()
	tmp := p.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(config), 0o600); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, p.ConfigPath); err != nil {
		p.t.Fatal(err)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers:
// a log sink for a process or a server under test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PinRoot returns a bpffs directory for one test's pins, unique to the run
// (/sys/fs/bpf/weir-e2e-NAME-RANDOM), removed when the test ends. Register
// it before starting weir: cleanups run last-in first-out, so the pins are
// removed after weir has exited and the guard they hold is detached.
func PinRoot(t testing.TB, name string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	root := "/sys/fs/bpf/weir-e2e-" + name + "-" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	return root
}

// ReadBytewise reads r to its end one byte per Read, for tests that
// compare two readers of one stream: what they return, how far, and the
// error (empty for io.EOF) that ends them.
func ReadBytewise(r io.Reader) (data, errText string) {
	var b strings.Builder
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		b.Write(one[:n])
		if err != nil {
			if err != io.EOF {
				errText = err.Error()
			}
			return b.String(), errText
		}
	}
}
