package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/internal/weirtest"
)

// TestMain removes the weir binaries weirtest built once the tests are done.
func TestMain(m *testing.M) {
	os.Exit(weirtest.Main(m))
}

// TestRunSmoke runs the comparison briefly against the real binary: one row
// per scenario and protocol, all requests answered.
func TestRunSmoke(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-weir", weirtest.Binary(t), "-duration", "300ms", "-warmup", "100ms", "-concurrency", "2", "-words", "4", "-workers", "2"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 11 || strings.TrimSpace(f[1]) != "1" {
			continue
		}
		scenario, proto := strings.TrimSpace(f[2]), strings.TrimSpace(f[3])
		rps, err := strconv.ParseFloat(strings.TrimSpace(f[4]), 64)
		if err != nil || rps <= 0 || strings.TrimSpace(f[9]) != "0" {
			t.Errorf("row %q: req/s %v (%v), errors %s", line, rps, err, f[9])
		}
		rows[scenario+"/"+proto] = true
	}
	for _, sc := range []string{"chat", "stream"} {
		for _, proto := range []string{"h1", "h2", "h3"} {
			if !rows[sc+"/"+proto] {
				t.Errorf("no row for %s over %s in:\n%s", sc, proto, out.String())
			}
		}
	}
}

func TestRunRejectsBadFlag(t *testing.T) {
	if err := run(context.Background(), []string{"-concurrency", "x"}, &bytes.Buffer{}); err == nil {
		t.Error("bad flag accepted")
	}
}
