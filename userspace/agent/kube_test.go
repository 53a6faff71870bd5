package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/metrics"
)

// backend is an upstream that names itself in every response.
func backend(t *testing.T, name string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// startAgent writes cfg to a config file and starts an agent on it, shut
// down when the test ends; it returns the agent and the file (for reloads).
func startAgent(t *testing.T, cfg string) (*Agent, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Start(Options{ConfigPath: path, Stderr: io.Discard, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	return a, path
}

func kubeAgentConfig(fileHost, fileServer string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
log: {level: error, access: stdout}
dataplane: {mode: "off"}
providers: [{name: canned, type: offline}]
models: [{name: m, targets: [{provider: canned}]}]
routes:
  - {name: file-route, host: %s, path: /, upstream: {servers: [%q]}}
kubernetes:
  ingress: {enabled: true, status_address: 192.0.2.7}
`, fileHost, fileServer)
}

func pathPrefix() *networkingv1.PathType {
	p := networkingv1.PathTypePrefix
	return &p
}

func testIngress(name, host string, annotations map[string]string) *networkingv1.Ingress {
	class := "nginx"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: annotations},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: pathPrefix(), Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}},
				}}},
			}}}},
		},
	}
}

// get sends GET / with host to the agent and returns status and body.
func get(t *testing.T, addr, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually retries get until the body starts with want; the provider's
// routes arrive asynchronously. A bound, not a timing assertion.
func eventually(t *testing.T, addr, host, want string) {
	t.Helper()
	var body string
	for range 400 {
		var code int
		code, body = get(t, addr, host)
		if code == http.StatusOK && strings.HasPrefix(body, want) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("host %s: got %q, want a body starting with %q", host, body, want)
}

func adminGet(t *testing.T, a *Agent, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + a.AdminAddr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// useFakeClient makes kubernetes.ingress use client, with a short debounce,
// until the test ends.
func useFakeClient(t *testing.T, client kubernetes.Interface) {
	oldClient, oldDebounce := newKubeClient, kubeDebounce
	newKubeClient = func(string) (kubernetes.Interface, error) { return client, nil }
	kubeDebounce = 10 * time.Millisecond
	t.Cleanup(func() { newKubeClient, kubeDebounce = oldClient, oldDebounce })
}

// fakeShop is a fake cluster with Service shop/web (port "http") whose one
// ready endpoint is web, and objs; the agent's kubernetes.ingress uses it.
func fakeShop(t *testing.T, web *url.URL, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	port, err := strconv.Atoi(web.Port())
	if err != nil {
		t.Fatal(err)
	}
	portName, port32, ready := "http", int32(port), true
	client := fake.NewClientset(append([]runtime.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port32}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{web.Hostname()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		},
	}, objs...)...)
	useFakeClient(t, client)
	return client
}

func TestKubernetesIngress(t *testing.T) {
	kubeBackend := backend(t, "kube")
	fileBackend := backend(t, "file")
	client := fakeShop(t, kubeBackend,
		testIngress("web", "shop.test", nil),
		// An access-control annotation weir cannot read: serving the path
		// open would be worse than not serving it.
		testIngress("locked", "locked.test", map[string]string{"nginx.ingress.kubernetes.io/whitelist-source-range": "not-a-cidr"}),
	)

	a, path := startAgent(t, kubeAgentConfig("file.test", fileBackend.Host))
	addr := a.Addr("public").String()

	eventually(t, addr, "shop.test", "kube /")
	eventually(t, addr, "file.test", "file /")
	if code, body := get(t, addr, "locked.test"); strings.HasPrefix(body, "kube") {
		t.Errorf("the Ingress with a broken access control is served: %d %q", code, body)
	}

	var cfg struct {
		Kubernetes kubeStatus `json:"kubernetes"`
	}
	// The status is published just after the routes start serving: poll
	// (a bound, not a timing assertion).
	for i := 0; ; i++ {
		if err := json.Unmarshal([]byte(adminGet(t, a, "/config")), &cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg.Kubernetes.Served) > 0 || i == 400 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if got := strings.Join(cfg.Kubernetes.Served, ","); got != "shop.web-0" {
		t.Errorf("/config served routes %q, want shop.web-0", got)
	}
	var reason string
	for _, it := range cfg.Kubernetes.NotCarried {
		if it.Ingress == "shop/locked" && strings.HasPrefix(it.Key, "spec.rules[0]") {
			reason = it.Reason
		}
	}
	if !strings.Contains(reason, "whitelist-source-range") {
		t.Errorf("/config does not say why shop/locked is disabled: %+v", cfg.Kubernetes.NotCarried)
	}
	m := adminGet(t, a, "/metrics")
	for _, want := range []string{`weir_ingress_routes{state="served"} 1`, `weir_ingress_routes{state="disabled"} 1`, "weir_ingress_update_success 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The provider writes the status address to the Ingresses of its class.
	var lb []networkingv1.IngressLoadBalancerIngress
	for range 400 {
		ing, err := client.NetworkingV1().Ingresses("shop").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if lb = ing.Status.LoadBalancer.Ingress; len(lb) > 0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if len(lb) != 1 || lb[0].IP != "192.0.2.7" {
		t.Errorf("status %+v, want IP 192.0.2.7", lb)
	}

	// A file reload keeps the Kubernetes routes.
	if err := os.WriteFile(path, []byte(kubeAgentConfig("file2.test", fileBackend.Host)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(true); err != nil {
		t.Fatal(err)
	}
	eventually(t, addr, "file2.test", "file /")
	eventually(t, addr, "shop.test", "kube /")
	if _, body := get(t, addr, "file.test"); strings.HasPrefix(body, "file") {
		t.Errorf("the route removed from the file still serves: %q", body)
	}

	// A new Ingress that claims the file's host and path conflicts: the
	// update is rejected and the routes in force keep serving.
	if _, err := client.NetworkingV1().Ingresses("shop").Create(context.Background(), testIngress("clash", "file2.test", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if err := json.Unmarshal([]byte(adminGet(t, a, "/config")), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Kubernetes.LastError != "" || i == 400 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(adminGet(t, a, "/metrics"), "weir_ingress_update_success 0") {
		t.Error("weir_ingress_update_success is not 0 after a rejected update")
	}
	if !strings.Contains(cfg.Kubernetes.LastError, `kubernetes route "shop.clash-0"`) {
		t.Errorf("last_update_error %q does not name the clashing route", cfg.Kubernetes.LastError)
	}
	eventually(t, addr, "file2.test", "file /")
	eventually(t, addr, "shop.test", "kube /")
}

// TestPlainRoutesMerge covers the two sources without a cluster: each
// source's change keeps the other's routes, and a conflict keeps the table
// in force.
func TestPlainRoutesMerge(t *testing.T) {
	p := &plainRoutes{metrics: metrics.New(prometheus.NewRegistry())}
	t.Cleanup(func() { _ = p.close() })
	route := func(name, host string) config.Route {
		return config.Route{Name: name, Host: host, Path: "/", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}}
	}
	served := func() []string {
		var hosts []string
		for _, h := range []string{"a.test", "b.test", "k.test"} {
			if _, ok := p.cur.Load().Match(httptest.NewRequest(http.MethodGet, "http://"+h+"/", nil)); ok {
				hosts = append(hosts, h)
			}
		}
		return hosts
	}
	install := func(rs ...config.Route) {
		t.Helper()
		tb, err := p.compile(&config.Config{Routes: rs})
		if err != nil {
			t.Fatal(err)
		}
		p.install(tb)
	}
	install(route("a", "a.test"))
	if err := p.installMerged([]config.Route{route("k", "k.test")}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(served(), ","); got != "a.test,k.test" {
		t.Fatalf("served %s", got)
	}
	install(route("b", "b.test"))
	if got := strings.Join(served(), ","); got != "b.test,k.test" {
		t.Fatalf("after the file change: served %s", got)
	}
	// Kubernetes claims the file's host and path: rejected, nothing changes.
	if err := p.installMerged([]config.Route{route("k2", "b.test")}); err == nil || !strings.Contains(err.Error(), `kubernetes route "k2"`) {
		t.Errorf("conflict: %v", err)
	}
	if got := strings.Join(served(), ","); got != "b.test,k.test" {
		t.Fatalf("after the rejected update: served %s", got)
	}
	// A file that clashes with the Kubernetes routes in force fails to compile.
	if _, err := p.compile(&config.Config{Routes: []config.Route{route("k", "a.test")}}); err == nil {
		t.Error("a file route named like a Kubernetes route compiled")
	}
	// A Kubernetes change between compile and install is not lost.
	tb, err := p.compile(&config.Config{Routes: []config.Route{route("a", "a.test")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.installMerged(nil); err != nil {
		t.Fatal(err)
	}
	p.install(tb)
	if got := strings.Join(served(), ","); got != "a.test" {
		t.Fatalf("after kubernetes emptied between compile and install: served %s", got)
	}
}
