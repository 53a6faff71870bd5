package main

import (
	"io"
	"maps"
	"strings"
	"testing"
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
		{"-systems", "direct,weir-full-base"}} {
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
