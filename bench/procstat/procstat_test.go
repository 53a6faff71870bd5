package procstat

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS <= 0 || before.Threads < 1 || before.Procs != 1 {
		t.Fatalf("usage %+v", before)
	}
	// Burn CPU until the kernel accounts at least 30ms more (bounded).
	var after Usage
	x := 1.0
	for i := 0; i < 5000; i++ {
		for j := 0; j < 100000; j++ {
			x = x*1.0000001 + 1e-9
		}
		if after, err = Read(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if after.CPU-before.CPU >= 30*time.Millisecond {
			break
		}
	}
	if after.CPU-before.CPU < 30*time.Millisecond {
		t.Fatalf("CPU went from %v to %v (x=%v)", before.CPU, after.CPU, x)
	}
}

func TestTreeFindsChildren(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pids, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pids[0] != os.Getpid() || !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("tree %v lacks child %d", pids, cmd.Process.Pid)
	}
	u, err := ReadTree(os.Getpid())
	if err != nil || u.Procs < 2 {
		t.Fatalf("ReadTree: %+v %v", u, err)
	}
	if _, err := ReadTree(1 << 30); err == nil {
		t.Error("ReadTree of a missing pid succeeded")
	}
}

func TestSamplerSeesPeak(t *testing.T) {
	s := NewSampler(os.Getpid(), 5*time.Millisecond)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	start, _ := Read(os.Getpid())
	const size = 64 << 20
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	time.Sleep(30 * time.Millisecond)
	res, err := s.Stop()
	runtime.KeepAlive(buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.PeakRSS < start.RSS+size*3/4 {
		t.Errorf("peak RSS %d, want at least %d", res.PeakRSS, start.RSS+size*3/4)
	}
	if res.CPU < 0 || res.EndThreads < 1 {
		t.Errorf("result %+v", res)
	}
	if _, err := s.Stop(); err == nil {
		t.Error("second Stop succeeded")
	}
}

func TestParseOddCommandName(t *testing.T) {
	dir := t.TempDir()
	old := Proc
	Proc = dir
	t.Cleanup(func() { Proc = old })
	// comm "a) (b" with spaces and parentheses; utime 150 stime 50 cutime 10
	// cstime 0 threads 3 rss 10 pages.
	stat := "42 (a) (b) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 10 0 20 0 3 0 100 1000000 10 18446744073709551615\n"
	if err := os.MkdirAll(filepath.Join(dir, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "42", "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := Read(42)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU != 2100*time.Millisecond || u.Threads != 3 || u.RSS != 10*int64(os.Getpagesize()) {
		t.Fatalf("usage %+v", u)
	}
	if err := os.WriteFile(filepath.Join(dir, "42", "stat"), []byte("42 (x) S 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(42); err == nil {
		t.Error("short stat accepted")
	}
}
