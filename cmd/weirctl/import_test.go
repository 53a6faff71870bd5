package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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
		{name: "no -f", args: nil, code: 2, stderrHas: "give -f FILE_OR_DIR or --from-cluster"},
		{name: "both -f and --from-cluster", args: []string{"-f", "x", "--from-cluster"}, code: 2, stderrHas: "give -f FILE_OR_DIR or --from-cluster"},
		{name: "from-cluster without a kubeconfig", args: []string{"--from-cluster", "--kubeconfig", "testdata/import/nope.kubeconfig"}, code: 1, stderrHas: "weirctl import-ingress: kubeconfig:"},
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

// TestImportFromCluster runs --from-cluster against a minimal API server
// that answers the provider's lists (and keeps its watches open), through
// a kubeconfig file, as an operator's cluster would.
func TestImportFromCluster(t *testing.T) {
	lists := map[string]string{
		"/apis/networking.k8s.io/v1/ingresses": `{"kind":"IngressList","apiVersion":"networking.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[
			{"metadata":{"name":"web","namespace":"shop","annotations":{"nginx.ingress.kubernetes.io/server-snippet":"x"}},
			 "spec":{"ingressClassName":"nginx","rules":[{"host":"shop.example.com","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"name":"http"}}}}]}}]}}]}`,
		"/apis/networking.k8s.io/v1/ingressclasses": `{"kind":"IngressClassList","apiVersion":"networking.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[]}`,
		"/api/v1/services": `{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[
			{"metadata":{"name":"web","namespace":"shop"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080}]}}]}`,
		"/apis/discovery.k8s.io/v1/endpointslices": `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[
			{"metadata":{"name":"web-1","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",
			 "ports":[{"name":"http","port":8080}],"endpoints":[{"addresses":["10.2.0.7"],"conditions":{"ready":true}}]}]}`,
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := lists[r.URL.Path]
		switch {
		case !ok:
			http.NotFound(w, r)
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			if r.URL.Query().Get("sendInitialEvents") == "true" {
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}`, http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}
	}))
	defer api.Close()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "`+api.URL+`"}}]
users: [{name: test, user: {}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := importIngress([]string{"--from-cluster", "--kubeconfig", kc, "--timeout", "20s"}, &stdout, &stderr)
	if code != exitLost {
		t.Errorf("exit %d, want %d (the snippet is lost)\n%s", code, exitLost, stderr.String())
	}
	if !strings.Contains(stdout.String(), "- 10.2.0.7:8080\n") {
		t.Errorf("the Service should resolve to its endpoint:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "unsupported nginx.ingress.kubernetes.io/server-snippet=") {
		t.Errorf("report:\n%s", stderr.String())
	}
}
