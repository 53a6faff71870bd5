package kube

import (
	"context"
	"crypto/tls"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
	"github.com/weir-gateway/weir/userspace/importer/ingress"
)

// fixtureObjects reads testdata/cluster.yaml (Ingresses, IngressClass,
// Services) for the fake clientset.
func fixtureObjects(t *testing.T) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile("testdata/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := &ingress.Objects{}
	if err := objs.Add("cluster.yaml", data); err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	for i := range objs.Ingresses {
		out = append(out, &objs.Ingresses[i])
	}
	for i := range objs.Classes {
		out = append(out, &objs.Classes[i])
	}
	for i := range objs.Services {
		out = append(out, &objs.Services[i])
	}
	return out
}

func slice(name, svc, portName string, port int32, ready map[string]bool) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	for _, ip := range slices.Sorted(func(yield func(string) bool) {
		for ip := range ready {
			if !yield(ip) {
				return
			}
		}
	}) {
		r := ready[ip]
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &r}})
	}
	return es
}

// next waits for an update, failing after a generous bound (a missing
// update is the failure, not slowness).
func next(t *testing.T, ch <-chan Update) Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(20 * time.Second):
		t.Fatal("no update from the provider")
	}
	return Update{}
}

func routeByName(rs []config.Route, name string) *config.Route {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func TestProvider(t *testing.T) {
	objs := append(fixtureObjects(t),
		slice("web-a", "web", "http", 8080, map[string]bool{"10.1.0.1": true, "10.1.0.2": true, "10.1.0.3": false}))
	client := fake.NewClientset(objs...)
	updates := run(t, client, Options{Debounce: 10 * time.Millisecond})

	u := next(t, updates)
	web := routeByName(u.Routes, "shop.web-0")
	if web == nil {
		t.Fatalf("no route shop.web-0 in %+v", u.Routes)
	}
	if want := []string{"10.1.0.1:8080", "10.1.0.2:8080"}; !slices.Equal(web.Upstream.Servers, want) {
		t.Errorf("servers %v, want the ready endpoints %v", web.Upstream.Servers, want)
	}
	if api := routeByName(u.Routes, "shop.web-1"); api == nil || !slices.Equal(api.Upstream.Servers, []string{"api.shop.svc.cluster.local:9000"}) {
		t.Errorf("a Service without endpoints falls back to its name: %+v", api)
	}
	if routeByName(u.Routes, "shop.other-0") != nil {
		t.Error("an Ingress of another class was imported")
	}
	var sawSnippet bool
	for _, ir := range u.Report.Ingresses {
		for _, it := range ir.Items {
			sawSnippet = sawSnippet || strings.HasSuffix(it.Key, "configuration-snippet") && it.Status == ingress.Unsupported
		}
	}
	if !sawSnippet || !u.Report.Lost() {
		t.Error("the report must carry the unsupported snippet")
	}
	if _, err := config.Load(mustMarshal(t, u.Routes)); err != nil {
		t.Errorf("routes do not load: %v", err)
	}

	// Status is the agent's (userspace/agent/kube_status_test.go): the
	// provider writes none.
	ctx := t.Context()
	for _, name := range []string{"web", "other"} {
		if ing, err := client.NetworkingV1().Ingresses("shop").Get(ctx, name, metav1.GetOptions{}); err != nil || len(ing.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("the provider wrote the status of %s: %+v %v", name, ing.Status, err)
		}
	}

	// A rollout: one endpoint becomes ready, another goes away.
	es := slice("web-a", "web", "http", 8080, map[string]bool{"10.1.0.2": true, "10.1.0.3": true})
	if _, err := client.DiscoveryV1().EndpointSlices("shop").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	u = next(t, updates)
	if web := routeByName(u.Routes, "shop.web-0"); web == nil || !slices.Equal(web.Upstream.Servers, []string{"10.1.0.2:8080", "10.1.0.3:8080"}) {
		t.Errorf("after the rollout: %+v", web)
	}

	// The Ingress goes away.
	if err := client.NetworkingV1().Ingresses("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	u = next(t, updates)
	if routeByName(u.Routes, "shop.web-0") != nil {
		t.Errorf("the deleted Ingress still has routes: %+v", u.Routes)
	}
}

// run runs a provider on client as the agent does, until the test ends,
// and returns its updates.
func run(t *testing.T, client *fake.Clientset, opt Options) <-chan Update {
	t.Helper()
	updates := make(chan Update, 16)
	opt.OnUpdate = func(u Update) { updates <- u }
	p, err := New(client, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return updates
}

// once runs a provider's Once on client.
func once(t *testing.T, client *fake.Clientset, opt Options) (*Provider, Update) {
	t.Helper()
	p, err := New(client, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u, err := p.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p, u
}

func TestOnce(t *testing.T) {
	client := fake.NewClientset(append(fixtureObjects(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})...)
	calls := 0
	p, u := once(t, client, Options{OnUpdate: func(Update) { calls++ }})
	if web := routeByName(u.Routes, "shop.web-0"); web == nil || !slices.Equal(web.Upstream.Servers, []string{"web.shop.svc.cluster.local:80"}) {
		t.Errorf("without EndpointSlices the Service name is used: %+v", web)
	}
	// Unchanged routes are not handed on again.
	p.publish()
	p.publish()
	if calls != 1 {
		t.Errorf("OnUpdate called %d times for one state, want 1", calls)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, Options{OnUpdate: func(Update) {}}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := New(fake.NewClientset(), Options{}); err == nil {
		t.Error("missing OnUpdate accepted")
	}
}

func mustMarshal(t *testing.T, rs []config.Route) []byte {
	t.Helper()
	b, err := ingress.MarshalRoutes(rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCertificates(t *testing.T) {
	objs := fixtureObjects(t)
	for _, o := range objs {
		if ing, ok := o.(*networkingv1.Ingress); ok && ing.Name == "web" {
			ing.Spec.TLS = []networkingv1.IngressTLS{
				{Hosts: []string{"shop.example.com"}, SecretName: "web-tls"},
				{Hosts: []string{"x.example.com"}, SecretName: "missing"},
				{Hosts: []string{"y.example.com"}, SecretName: "broken"},
			}
		}
	}
	shop := httproutetest.Cert(t, "shop.example.com")
	crt, key := shop.CertPEM, shop.KeyPEM
	objs = append(objs,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-tls", Namespace: "shop"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: "shop"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: []byte("secret-key-material")}})
	_, u := once(t, fake.NewClientset(objs...), Options{OnUpdate: func(Update) {}, Certificates: true})
	if len(u.Certificates) != 1 || !slices.Equal(u.Certificates[0].Hosts, []string{"shop.example.com"}) {
		t.Fatalf("certificates %+v", u.Certificates)
	}
	store := httproute.NewCertStore(u.Certificates)
	if c, _ := store.GetCertificate(&tls.ClientHelloInfo{ServerName: "shop.example.com"}); c == nil {
		t.Error("the store does not serve shop.example.com")
	}
	want := map[string]string{
		"spec.tls[0]": "carried: served by SNI for shop.example.com from Secret shop/web-tls",
		"spec.tls[1]": "unsupported: Secret shop/missing is missing",
		"spec.tls[2]": "unsupported: Secret shop/broken: not a usable certificate and key",
	}
	for _, ir := range u.Report.Ingresses {
		for _, it := range ir.Items {
			if w, ok := want[it.Key]; ok {
				delete(want, it.Key)
				if got := it.Status.String() + ": " + it.Reason; !strings.HasPrefix(got, w) {
					t.Errorf("%s: %q, want %q…", it.Key, got, w)
				}
				if strings.Contains(it.Reason, "secret-key-material") {
					t.Errorf("%s: the reason shows key material", it.Key)
				}
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("not reported: %v", want)
	}
}

func TestDisableBroken(t *testing.T) {
	routes := []config.Route{
		{Name: "ns.good-0", Host: "a.test", Path: "/", Upstream: config.RouteUpstream{Servers: []string{"10.0.0.1:80"}}},
		{Name: "ns.bad-0", Host: "b.test", Path: "/", Upstream: config.RouteUpstream{Servers: []string{"10.0.0.1:99999"}}},
	}
	rep := &ingress.Report{Ingresses: []*ingress.IngressReport{
		{Namespace: "ns", Name: "good", Routes: []string{"ns.good-0"}},
		{Namespace: "ns", Name: "bad", Routes: []string{"ns.bad-0"}},
	}}
	out := disableBroken(routes, rep)
	if len(out) != 1 || out[0].Name != "ns.good-0" {
		t.Fatalf("kept %+v", out)
	}
	bad := rep.Ingresses[1]
	if len(bad.Routes) != 0 || len(bad.Items) != 1 || bad.Items[0].Status != ingress.Unsupported ||
		!strings.Contains(bad.Items[0].Reason, "disabled: routes[1].upstream.servers[0]") {
		t.Errorf("report %+v", bad)
	}
	if !rep.Lost() {
		t.Error("a disabled route is something lost")
	}
}
