// Package procstat reads CPU time and memory of process trees from /proc,
// for benchmark reports (CPU seconds per 1,000 requests, peak RSS).
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat; Linux fixes it at 100
// for user space whatever the kernel's HZ.
const userHZ = 100

// Proc is where /proc is mounted (tests may point it elsewhere).
var Proc = "/proc"

// Usage is the resources of a set of processes at one moment.
type Usage struct {
	// CPU is user plus system time of the processes (exited children whose
	// parent waited for them included, as the kernel accounts them).
	CPU time.Duration
	// RSS is the sum of the resident set sizes in bytes.
	RSS int64
	// Threads is the total number of threads.
	Threads int
	// Procs is the number of processes read.
	Procs int
}

// statFields reads the fields after the command name of /proc/PID/stat;
// field numbers below follow proc(5) (state is field 3).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(Proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	// The command name is in parentheses and may hold spaces or ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("procstat: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return nil, fmt.Errorf("procstat: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f, nil
}

// field returns proc(5) field n (n ≥ 3) from statFields output.
func field(f []string, n int) (int64, error) {
	v, err := strconv.ParseInt(f[n-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: stat field %d: %w", n, err)
	}
	return v, nil
}

// Read returns the usage of one process.
func Read(pid int) (Usage, error) {
	f, err := statFields(pid)
	if err != nil {
		return Usage{}, err
	}
	var ticks int64
	for _, n := range []int{14, 15, 16, 17} { // utime stime cutime cstime
		v, err := field(f, n)
		if err != nil {
			return Usage{}, err
		}
		ticks += v
	}
	threads, err := field(f, 20)
	if err != nil {
		return Usage{}, err
	}
	rss, err := field(f, 24) // pages
	if err != nil {
		return Usage{}, err
	}
	return Usage{
		CPU:     time.Duration(ticks) * time.Second / userHZ,
		RSS:     rss * int64(os.Getpagesize()),
		Threads: int(threads),
		Procs:   1,
	}, nil
}

// Tree returns pid and all its descendants.
func Tree(pid int) ([]int, error) {
	entries, err := os.ReadDir(Proc)
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil {
			continue // exited meanwhile
		}
		ppid, err := field(f, 4)
		if err != nil {
			continue
		}
		children[int(ppid)] = append(children[int(ppid)], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// ReadTree returns the summed usage of pid and its descendants. Processes
// that exit while it reads are skipped; pid itself must exist.
func ReadTree(pid int) (Usage, error) {
	pids, err := Tree(pid)
	if err != nil {
		return Usage{}, err
	}
	var total Usage
	for i, p := range pids {
		u, err := Read(p)
		if err != nil {
			if i == 0 {
				return Usage{}, err
			}
			continue
		}
		total.CPU += u.CPU
		total.RSS += u.RSS
		total.Threads += u.Threads
		total.Procs++
	}
	return total, nil
}

// Sampler watches a process tree during a run: CPU used between Start and
// Stop, and the peak RSS seen by sampling every interval.
type Sampler struct {
	pid      int
	interval time.Duration

	mu      sync.Mutex
	start   Usage
	peak    int64
	stop    chan struct{}
	done    chan struct{}
	lastErr error
}

// NewSampler returns a sampler of pid's tree (interval defaults to 50ms).
func NewSampler(pid int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	return &Sampler{pid: pid, interval: interval}
}

// Start records the starting usage and begins sampling.
func (s *Sampler) Start() error {
	u, err := ReadTree(s.pid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.start, s.peak, s.lastErr = u, u.RSS, nil
	s.mu.Unlock()
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return nil
}

func (s *Sampler) sample() Usage {
	u, err := ReadTree(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return Usage{}
	}
	s.peak = max(s.peak, u.RSS)
	return u
}

// Result is what a Sampler measured.
type Result struct {
	CPU     time.Duration `json:"cpu_ns"`
	PeakRSS int64         `json:"peak_rss_bytes"`
	// EndRSS and EndThreads are the values at Stop.
	EndRSS     int64 `json:"end_rss_bytes"`
	EndThreads int   `json:"end_threads"`
}

// Stop ends sampling and returns the CPU used since Start and the peak RSS.
func (s *Sampler) Stop() (Result, error) {
	if s.stop == nil {
		return Result{}, errors.New("procstat: Stop without Start")
	}
	close(s.stop)
	<-s.done
	s.stop = nil
	end := s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil && end.Procs == 0 {
		return Result{}, s.lastErr
	}
	return Result{CPU: end.CPU - s.start.CPU, PeakRSS: s.peak, EndRSS: end.RSS, EndThreads: end.Threads}, nil
}
