package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

func TestImportIngress(t *testing.T) {
	if _, ok := commands["import-ingress"]; !ok {
		t.Fatal("import-ingress is not registered")
	}
	reportFile := filepath.Join(t.TempDir(), "report.txt")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		reportHas  string
		loadsRoute bool
	}{
		{name: "everything carried", args: []string{"-f", "testdata/import/clean.yaml"}, code: 0,
			stdoutHas: "name: shop.web-0", stderrHas: "0 not supported", loadsRoute: true},
		{name: "a snippet is lost", args: []string{"-f", "testdata/import/snippets.yaml"}, code: exitLost,
			stdoutHas: "name: default.snippets-0", stderrHas: "unsupported nginx.ingress.kubernetes.io/server-snippet=", loadsRoute: true},
		{name: "directory", args: []string{"-f", "testdata/import"}, code: exitLost, stdoutHas: "name: shop.web-0\n", loadsRoute: true},
		{name: "other class", args: []string{"-f", "testdata/import/clean.yaml", "--ingress-class", "internal"}, code: 0,
			stdoutHas: "routes: []", stderrHas: `skipped: ingressClassName "nginx" is not "internal"`, loadsRoute: true},
		{name: "report to a file", args: []string{"-f", "testdata/import/snippets.yaml", "-report", reportFile}, code: exitLost,
			reportHas: "summary: class \"nginx\", 1 Ingresses", loadsRoute: true},
		{name: "missing file", args: []string{"-f", "testdata/import/nope.yaml"}, code: 1, stderrHas: "no such file"},
		{name: "old apiVersion", args: []string{"-f", "testdata/import-old-api.yaml"}, code: 1, stderrHas: `has apiVersion "extensions/v1beta1"; only networking.k8s.io/v1`},
		{name: "no -f", args: nil, code: 2, stderrHas: "-f FILE_OR_DIR is required"},
		{name: "extra argument", args: []string{"-f", "x", "y"}, code: 2, stderrHas: "usage: weirctl import-ingress"},
		{name: "help", args: []string{"-h"}, code: 0, stderrHas: "Exit status: 0 everything carried, 3 something was not carried"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := importIngress(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdoutHas) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdoutHas, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderrHas, stderr.String())
			}
			if tt.reportHas != "" {
				b, err := os.ReadFile(reportFile)
				if err != nil || !strings.Contains(string(b), tt.reportHas) {
					t.Errorf("report file lacks %q: %v\n%s", tt.reportHas, err, b)
				}
			}
			if tt.loadsRoute {
				if _, err := config.Load(stdout.Bytes()); err != nil {
					t.Errorf("output does not load: %v", err)
				}
			}
		})
	}
}
