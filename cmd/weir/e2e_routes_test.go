package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/weirtest"
)

const ingressFixture = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
    nginx.ingress.kubernetes.io/enable-cors: "true"
    nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers x: y;"
spec:
  ingressClassName: nginx
  rules:
    - host: app.example.com
      http:
        paths:
          - path: /api(/|$)(.*)
            pathType: ImplementationSpecific
            backend: {service: {name: backend, port: {number: 80}}}
`

// TestE2EImportedIngress imports an Ingress with weirctl, serves the result
// through the real binary beside the AI routes on the same host, and checks
// the rewrite, CORS, the report of what was lost, metrics and access log.
func TestE2EImportedIngress(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		_, _ = io.WriteString(w, "backend says hi")
	}))
	defer backend.Close()

	dir := t.TempDir()
	in := filepath.Join(dir, "ingress.yaml")
	if err := os.WriteFile(in, []byte(ingressFixture), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(weirtest.Weirctl(t), "import-ingress", "-f", in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("import-ingress must exit 3 (a snippet is not carried), got %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "unsupported nginx.ingress.kubernetes.io/configuration-snippet") {
		t.Fatalf("report does not name the lost snippet:\n%s", stderr.String())
	}
	routes := strings.Replace(string(out), "backend.default.svc.cluster.local:80", strings.TrimPrefix(backend.URL, "http://"), 1)
	routes = strings.TrimPrefix(routes, "version: 1\n")

	_, mockURL := mock(t, mockupstream.Options{Words: 4})
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
providers: [{name: primary, type: openai, base_url: "%s/v1"}]
models: [{name: weir-test, targets: [{provider: primary, model: mock-gpt}]}]
%s`, mockURL, routes)
	p := weirtest.Start(t, cfg)
	base := p.URL("public")

	get := func(method, path string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Host = "app.example.com"
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get(http.MethodGet, "/api/users/7")
	if resp.StatusCode != 200 || body != "backend says hi" {
		t.Fatalf("plain route: %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	got := append([]string(nil), paths...)
	mu.Unlock()
	if len(got) != 1 || got[0] != "/users/7" {
		t.Fatalf("backend saw paths %v, want the rewritten /users/7", got)
	}
	resp, _ = get(http.MethodOptions, "/api/x", "Origin", "https://ui.example.com", "Access-Control-Request-Method", "POST")
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("CORS preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// The AI API shares the host.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(chat))
	req.Host = "app.example.com"
	req.Header.Set("Content-Type", "application/json")
	aresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := io.ReadAll(aresp.Body)
	aresp.Body.Close()
	if aresp.StatusCode != 200 || !strings.Contains(string(ab), mockupstream.ReplyText(4)) {
		t.Fatalf("AI route on the shared host: %d %s", aresp.StatusCode, ab)
	}
	if !strings.Contains(p.Metrics(), `weir_requests_total{api="http",code="200",protocol="http/1.1",provider="none",route="default.app-0"}`) {
		t.Fatal("plain route not counted in weir_requests_total")
	}
	found := false
	for _, l := range p.AccessLog(3) {
		if l["api"] == "http" && l["route"] == "default.app-0" {
			found = true
		}
	}
	if !found {
		t.Fatal("plain route not in the access log")
	}
}
