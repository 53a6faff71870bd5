package agent

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/weir-gateway/weir/userspace/importer/ingress"
)

// ingressFixtures are the Ingress YAML files the end-to-end tests of
// cmd/weir serve through weirctl import-ingress; here they go through the
// Kubernetes provider instead.
const ingressFixtures = "../../cmd/weir/testdata/ingress"

// TestKubernetesIngressFixtures serves the cmd/weir Ingress fixtures from
// a fake cluster, with every Service resolved to ready endpoints (real
// loopback backends, two pods behind "pods"), and checks one behaviour of
// each kind on the provider path: rewrite, redirect, canary, CORS, body
// limit, source range, and cookie affinity across real endpoints.
func TestKubernetesIngressFixtures(t *testing.T) {
	objs, err := ingress.ReadPath(ingressFixtures)
	if err != nil {
		t.Fatal(err)
	}
	var cluster []runtime.Object
	for i := range objs.Ingresses {
		cluster = append(cluster, &objs.Ingresses[i])
	}
	// The Services the fixtures name, each with one EndpointSlice per pod.
	for name, pods := range map[string][]string{
		"web": {"web"}, "web-canary": {"web-canary"}, "pods": {"pod-a", "pod-b"},
		"slow": {"slow"}, "blackhole": {"blackhole"}, "refused": {"refused"}, "error-pages": {"error-pages"},
	} {
		cluster = append(cluster, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "e2e"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})
		for _, pod := range pods {
			u := backend(t, pod)
			port, err := strconv.Atoi(u.Port())
			if err != nil {
				t.Fatal(err)
			}
			port32, ready := int32(port), true
			cluster = append(cluster, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: pod, Namespace: "e2e", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Port: &port32}},
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{u.Hostname()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			})
		}
	}
	useFakeClient(t, fake.NewClientset(cluster...))

	cfg := `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
log: {level: error, access: stdout}
dataplane: {mode: "off"}
providers: [{name: canned, type: offline}]
models: [{name: m, targets: [{provider: canned}]}]
kubernetes:
  ingress: {enabled: true}
`
	a, _ := startAgent(t, cfg)
	base := "http://" + a.Addr("public").String()
	eventually(t, a.Addr("public").String(), "vhost.example.com", "web /")

	clients := map[string]*http.Client{}
	do := func(t *testing.T, source, method, host, path string, body io.Reader, hdr ...string) (*http.Response, string) {
		t.Helper()
		c := clients[source]
		if c == nil {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
			tr := &http.Transport{DialContext: d.DialContext}
			t.Cleanup(tr.CloseIdleConnections)
			c = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			clients[source] = c
		}
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	get := func(t *testing.T, host, path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		return do(t, "127.0.0.1", http.MethodGet, host, path, nil, hdr...)
	}
	want := func(t *testing.T, resp *http.Response, body string, code int, prefix string) {
		t.Helper()
		if resp.StatusCode != code || !strings.HasPrefix(body, prefix) {
			t.Errorf("got %d %q, want %d %q…", resp.StatusCode, body, code, prefix)
		}
	}

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"rewrite-target", func(t *testing.T) {
			resp, body := get(t, "rewrite.example.com", "/something/users/7")
			want(t, resp, body, 200, "web /users/7")
			resp, body = get(t, "rewrite.example.com", "/v1/users/42")
			want(t, resp, body, 200, "web /people/42/users")
		}},
		{"permanent-redirect", func(t *testing.T) {
			resp, _ := get(t, "permanent.example.com", "/x")
			if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://new.example.com/landing" {
				t.Errorf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		}},
		{"canary by header", func(t *testing.T) {
			resp, body := get(t, "canary-header.example.com", "/p", "X-Canary", "always")
			want(t, resp, body, 200, "web-canary /p")
			resp, body = get(t, "canary-header.example.com", "/p")
			want(t, resp, body, 200, "web /p")
		}},
		{"CORS preflight", func(t *testing.T) {
			resp, _ := do(t, "127.0.0.1", http.MethodOptions, "cors.example.com", "/", nil, "Origin", "https://ui.example.com", "Access-Control-Request-Method", "POST")
			if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://ui.example.com" {
				t.Errorf("%d %v", resp.StatusCode, resp.Header)
			}
		}},
		{"proxy-body-size", func(t *testing.T) {
			resp, body := do(t, "127.0.0.1", http.MethodPost, "upload.example.com", "/", strings.NewReader(strings.Repeat("x", 1025)))
			want(t, resp, body, 413, "")
			resp, body = do(t, "127.0.0.1", http.MethodPost, "upload.example.com", "/", strings.NewReader(strings.Repeat("x", 1024)))
			want(t, resp, body, 200, "web /")
		}},
		{"whitelist-source-range", func(t *testing.T) {
			resp, body := do(t, "127.0.0.1", http.MethodGet, "allow.example.com", "/", nil)
			want(t, resp, body, 200, "web /")
			resp, body = do(t, "127.0.0.2", http.MethodGet, "allow.example.com", "/", nil)
			want(t, resp, body, 403, "")
		}},
		{"affinity across endpoints", func(t *testing.T) {
			resp, first := get(t, "sticky.example.com", "/s")
			var cookie *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "route" {
					cookie = c
				}
			}
			if cookie == nil {
				t.Fatalf("no affinity cookie: %v", resp.Header)
			}
			for range 10 {
				if _, body := get(t, "sticky.example.com", "/s", "Cookie", "route="+cookie.Value); body != first {
					t.Fatalf("pinned to %q, answered by %q", first, body)
				}
			}
			seen := map[string]bool{}
			for range 6 {
				_, body := get(t, "sticky.example.com", "/s")
				seen[body] = true
			}
			if !seen["pod-a /s"] || !seen["pod-b /s"] {
				t.Errorf("without the cookie only %v answered", seen)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
