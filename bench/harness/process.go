// Package harness runs the end-to-end benchmark: it starts the systems under
// test (the mock upstream alone, nginx as a reverse proxy, weir in several
// feature sets) as real processes pinned to CPUs, drives each with the same
// load (bench/loadgen), samples their CPU and memory from /proc
// (bench/procstat), and writes a markdown and JSON report.
package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is where and how processes run.
type Env struct {
	// Dir holds generated configs and process logs.
	Dir string
	// Pin maps a role ("load", "mock", "sut", "redis") to a taskset CPU list
	// such as "1" or "0-1"; a role without an entry is not pinned.
	Pin map[string]string
	// Log receives progress lines (nil: discarded).
	Log io.Writer
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", args...)
	}
}

// Process is a started child process whose output is kept in memory and in
// Dir/<name>.{stdout,stderr}.
type Process struct {
	Name string
	PID  int

	cmd            *exec.Cmd
	stdout, stderr *lineBuffer
	done           chan struct{}
	exitErr        error
}

// Start runs bin with args under taskset when role is pinned.
func (e *Env) Start(name, role, bin string, args []string, env []string) (*Process, error) {
	argv := append([]string{bin}, args...)
	if cpus := e.Pin[role]; cpus != "" {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("start %s: pinning needs taskset: %w", name, err)
		}
		argv = append([]string{taskset, "-c", cpus}, argv...)
	}
	p := &Process{Name: name, stdout: &lineBuffer{}, stderr: &lineBuffer{}, done: make(chan struct{})}
	outFile, err := os.Create(filepath.Join(e.Dir, name+".stdout"))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	errFile, err := os.Create(filepath.Join(e.Dir, name+".stderr"))
	if err != nil {
		outFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = io.MultiWriter(outFile, p.stdout)
	p.cmd.Stderr = io.MultiWriter(errFile, p.stderr)
	// Its own process group, so a benchmark interrupted by ^C stops it too
	// through Stop rather than leaving it behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		outFile.Close()
		errFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.PID = p.cmd.Process.Pid // taskset execs the command: same pid
	go func() {
		p.exitErr = p.cmd.Wait()
		outFile.Close()
		errFile.Close()
		close(p.done)
	}()
	e.logf("started %s (pid %d): %s", name, p.PID, strings.Join(argv, " "))
	return p, nil
}

// Repin moves every thread of p to the CPUs of role, as pinned, and
// returns what moves them back to p's own role's CPUs. Unpinned roles
// leave p where it is.
func (e *Env) Repin(p *Process, role, own string) (restore func() error, err error) {
	to, back := e.Pin[role], e.Pin[own]
	if to == "" || back == "" || to == back {
		return func() error { return nil }, nil
	}
	move := func(cpus string) error {
		out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(p.PID)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("repin %s to CPUs %s: %w: %s", p.Name, cpus, err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := move(to); err != nil {
		return nil, err
	}
	e.logf("moved %s to CPUs %s", p.Name, to)
	return func() error { return move(back) }, nil
}

// Exited reports whether the process has ended, with its exit error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.exitErr
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, waits up to 15s, then kills it.
func (p *Process) Stop() error {
	if done, err := p.Exited(); done {
		return ignoreSignalExit(err)
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("stop %s: killed after 15s", p.Name)
	}
	return ignoreSignalExit(p.exitErr)
}

func ignoreSignalExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return err
}

// WaitOutput waits until a line of stdout or stderr satisfies match and
// returns it; it fails when the process exits or timeout passes.
func (p *Process) WaitOutput(match func(line string) bool, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, b := range []*lineBuffer{p.stdout, p.stderr} {
			for _, l := range b.lines() {
				if match(l) {
					return l, nil
				}
			}
		}
		if done, err := p.Exited(); done {
			return "", fmt.Errorf("%s exited (%v) before it was ready:\n%s", p.Name, err, p.Output())
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not ready after %v:\n%s", p.Name, timeout, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Output is the tail of the process's stdout and stderr, for error messages.
func (p *Process) Output() string {
	out := p.stdout.String() + p.stderr.String()
	if len(out) > 4000 {
		out = "…" + out[len(out)-4000:]
	}
	return out
}

// lineBuffer keeps what a process wrote, bounded to the last 1 MiB.
type lineBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		rest := append([]byte(nil), l.b.Bytes()[l.b.Len()-512<<10:]...)
		l.b.Reset()
		l.b.Write(rest)
	}
	return l.b.Write(p)
}

func (l *lineBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lineBuffer) lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
