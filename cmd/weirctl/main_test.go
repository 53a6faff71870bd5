package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool returns the go command of the toolchain running the test.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// TestWeirctl builds the real binary and runs it as an operator would.
func TestWeirctl(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "weirctl")
	build := exec.Command(goTool(), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wantBad, err := os.ReadFile("testdata/bad.stderr")
	if err != nil {
		t.Fatal(err)
	}
	good := "testdata/good.yaml"
	tests := []struct {
		name      string
		args      []string
		stdin     string
		env       []string
		code      int
		stdout    string // exact
		stderr    string // exact, unless stderrHas is set
		stderrHas string
		stdoutHas string
	}{
		{name: "valid file", args: []string{"validate", good}, env: []string{"WEIRCTL_TEST_KEY=k"}, code: 0, stdout: good + ": ok\n"},
		{name: "env comes from the environment", args: []string{"validate", good}, code: 1,
			stderr: good + ":3: providers[0].api_key: environment variable WEIRCTL_TEST_KEY is not set\n"},
		{name: "invalid file", args: []string{"validate", "testdata/bad.yaml"}, code: 1, stderr: string(wantBad)},
		{name: "several files", args: []string{"validate", good, "testdata/bad.yaml"}, env: []string{"WEIRCTL_TEST_KEY=k"}, code: 1,
			stdout: good + ": ok\n", stderr: string(wantBad)},
		{name: "stdin", args: []string{"validate", "-"}, stdin: "version: 1\n", code: 0, stdout: "<stdin>: ok\n"},
		{name: "stdin invalid", args: []string{"validate", "-"}, stdin: "version: 1\nlog: {level: loud}\n", code: 1,
			stderr: "<stdin>:2: log.level: \"loud\" is not one of \"debug\", \"info\", \"warn\", \"error\"\n"},
		{name: "missing file", args: []string{"validate", "testdata/nope.yaml"}, code: 1,
			stderr: "testdata/nope.yaml: load config: open testdata/nope.yaml: no such file or directory\n"},
		{name: "validate without file", args: []string{"validate"}, code: 2, stderrHas: "usage: weirctl validate FILE..."},
		{name: "validate bad flag", args: []string{"validate", "-x", good}, code: 2, stderrHas: "flag provided but not defined: -x"},
		{name: "validate -h", args: []string{"validate", "-h"}, code: 0, stderrHas: "usage: weirctl validate FILE..."},
		{name: "no command", args: nil, code: 2, stderrHas: "usage: weirctl COMMAND"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderrHas: `weirctl: unknown command "frobnicate"`},
		{name: "help", args: []string{"help"}, code: 0, stdoutHas: "  check configuration files and print every problem\n"},
		{name: "--help", args: []string{"--help"}, code: 0, stdoutHas: "usage: weirctl COMMAND"},
		{name: "help validate", args: []string{"help", "validate"}, code: 0, stderrHas: "Exit status: 0 all files valid"},
		{name: "help unknown", args: []string{"help", "nope"}, code: 2, stderrHas: `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(withoutEnv(os.Environ(), "WEIRCTL_TEST_KEY"), tt.env...)
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &stdout, &stderr)
			}
			switch {
			case tt.stdoutHas != "":
				if !strings.Contains(stdout.String(), tt.stdoutHas) {
					t.Errorf("stdout lacks %q:\n%s", tt.stdoutHas, &stdout)
				}
			case stdout.String() != tt.stdout:
				t.Errorf("stdout:\n%s\nwant:\n%s", &stdout, tt.stdout)
			}
			switch {
			case tt.stderrHas != "":
				if !strings.Contains(stderr.String(), tt.stderrHas) {
					t.Errorf("stderr lacks %q:\n%s", tt.stderrHas, &stderr)
				}
			case stderr.String() != tt.stderr:
				t.Errorf("stderr:\n%s\nwant:\n%s", &stderr, tt.stderr)
			}
		})
	}
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
