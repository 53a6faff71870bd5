package main

import (
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/bench/harness"
)

func TestParsePin(t *testing.T) {
	tests := []struct {
		spec string
		cpus int
		want map[string]string
		bad  bool
	}{
		{spec: "off", cpus: 8},
		{spec: "auto", cpus: 1},
		{spec: "auto", cpus: 2, want: map[string]string{"load": "0", "mock": "0", "sut": "1", "redis": "1"}},
		{spec: "auto", cpus: 4, want: map[string]string{"load": "0", "mock": "0", "sut": "1-3", "redis": "1-3"}},
		{spec: "load=0,sut=1;3", cpus: 4, want: map[string]string{"load": "0", "sut": "1,3"}},
		{spec: "gpu=1", bad: true},
		{spec: "sut", bad: true},
		{spec: "sut=x", bad: true},
	}
	for _, tc := range tests {
		got, err := parsePin(tc.spec, tc.cpus)
		if (err != nil) != tc.bad || !maps.Equal(got, tc.want) {
			t.Errorf("parsePin(%q, %d) = %v, %v; want %v (error %v)", tc.spec, tc.cpus, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-systems", "direct,weir-full", "-scenarios", "chat-c1", "-pin", "off", "-duration", "2s"}, io.Discard)
	if err != nil || len(o.systems) != 2 || len(o.scenarios) != 1 || o.pin != nil || o.duration.Seconds() != 2 {
		t.Fatalf("%+v %v", o, err)
	}
	// A baseline binary joins as weir-full-base right after weir-full.
	o, err = parseFlags([]string{"-systems", "direct,weir-full,nginx", "-weir-base", "/tmp/old-weir", "-pin", "off"}, io.Discard)
	if err != nil || strings.Join(o.systems, ",") != "direct,weir-full,weir-full-base,nginx" {
		t.Fatalf("with -weir-base: %v %v", o.systems, err)
	}
	for _, args := range [][]string{{"-systems", "haproxy"}, {"-duration", "0s"}, {"-rate", "-1"}, {"extra"}, {"-pin", "x=1"},
		{"-systems", "direct,weir-full-base"}, {"-cpu-idle", "halt"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted it", args)
		}
	}
}

func TestRunRejectsUnknownScenario(t *testing.T) {
	if c := run(t.Context(), []string{"-pin", "off", "-systems", "direct", "-scenarios", "nope", "-out", t.TempDir()}, io.Discard, io.Discard); c != 1 {
		t.Errorf("exit %d, want 1", c)
	}
}

// TestRunKeepsEveryRound runs the direct system for two short rounds and
// checks report.json keeps both, numbered, beside the median row.
func TestRunKeepsEveryRound(t *testing.T) {
	out := t.TempDir()
	args := []string{"-pin", "off", "-systems", "direct", "-scenarios", "chat-c1", "-rounds", "2",
		"-duration", "200ms", "-warmup", "50ms", "-idle-streams", "0", "-out", out}
	if c := run(t.Context(), args, io.Discard, io.Discard); c != 0 {
		t.Fatalf("exit %d", c)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep harness.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || len(rep.Rounds) != 2 {
		t.Fatalf("%d rows and %d rounds, want 1 and 2", len(rep.Runs), len(rep.Rounds))
	}
	// -cpu-idle auto holds idle CPUs polling where it may (root) and says
	// so; elsewhere it says why not.
	want := "as the machine has them (auto: "
	if f, err := os.OpenFile("/dev/cpu_dma_latency", os.O_WRONLY, 0); err == nil {
		_ = f.Close()
		want = "held polling"
	}
	if !strings.HasPrefix(rep.CPUIdle, want) {
		t.Errorf("cpu_idle %q, want it to start with %q", rep.CPUIdle, want)
	}
	for i, r := range rep.Rounds {
		if r.Round != i+1 || r.System != "direct" || r.Load == nil || r.Load.OK == 0 {
			t.Errorf("round %d: %+v", i+1, r)
		}
	}
}
