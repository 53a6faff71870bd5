package kube

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
	"github.com/weir-gateway/weir/userspace/importer/ingress"
)

// sslIngress is an Ingress in namespace shop whose HTTPS backend is
// Service svc, with proxy-ssl-secret (and verification) set.
func sslIngress(name, svc, secret string) *networkingv1.Ingress {
	class := "nginx"
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: map[string]string{
			ingress.Prefix + "backend-protocol": "HTTPS",
			ingress.Prefix + "proxy-ssl-secret": secret,
			ingress.Prefix + "proxy-ssl-verify": "on",
		}},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
			Host: name + ".example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "https"}}},
			}}}},
		}}},
	}
}

// mtlsUpstream starts an HTTPS server that requires a client certificate
// of clientCA, and the Service and EndpointSlice (shop/name) in front of it.
func mtlsUpstream(t *testing.T, name string, serverCA, clientCA *httproutetest.CA) []runtime.Object {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{serverCA.Issue(t, "127.0.0.1").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: httproutetest.Pool(clientCA)}
	s.StartTLS()
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
	return []runtime.Object{svc, slice(name, name, "https", int32(n), map[string]bool{"127.0.0.1": true})}
}

func secret(name string, typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Type: typ, Data: data}
}

// items maps "namespace/name key" to "status: reason" for an update's report.
func items(rep *ingress.Report) map[string]string {
	out := map[string]string{}
	for _, ir := range rep.Ingresses {
		for _, it := range ir.Items {
			out[ir.Namespace+"/"+ir.Name+" "+strings.TrimPrefix(it.Key, ingress.Prefix)] = it.Status.String() + ": " + it.Reason
		}
	}
	return out
}

func TestUpstreamTLSSecrets(t *testing.T) {
	serverCA, clientCA := httproutetest.NewCA(t, "server-ca"), httproutetest.NewCA(t, "client-ca")
	client := clientCA.Issue(t, "weir")
	keyMark := string(client.KeyPEM[40:80])
	objs := []runtime.Object{
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		// An Opaque Secret, as kubectl create secret generic makes.
		secret("opaque-client", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": serverCA.PEM(), "tls.crt": client.CertPEM, "tls.key": client.KeyPEM}),
		// A kubernetes.io/tls Secret with ca.crt, as cert-manager makes.
		secret("tls-client", corev1.SecretTypeTLS, map[string][]byte{"ca.crt": serverCA.PEM(), "tls.crt": client.CertPEM, "tls.key": client.KeyPEM}),
		secret("no-client-cert", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": serverCA.PEM()}),
		secret("garbage", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": serverCA.PEM(), "tls.crt": []byte("not pem"), "tls.key": client.KeyPEM}),
		sslIngress("opaque", "backend", "shop/opaque-client"),
		sslIngress("certmanager", "backend", "shop/tls-client"),
		sslIngress("nocert", "backend", "shop/no-client-cert"),
		sslIngress("missing", "backend", "shop/absent"),
		sslIngress("garbage", "backend", "shop/garbage"),
	}
	objs = append(objs, mtlsUpstream(t, "backend", serverCA, clientCA)...)

	u := next(t, run(t, fake.NewClientset(objs...), Options{Debounce: 10 * time.Millisecond, Certificates: true}))
	got := items(u.Report)
	for key, want := range map[string]string{
		"shop/opaque proxy-ssl-secret":                 "carried: client certificate from tls.crt and tls.key; ca.crt verifies the upstream",
		"shop/certmanager proxy-ssl-secret":            "carried: client certificate from tls.crt and tls.key; ca.crt verifies the upstream",
		"shop/nocert proxy-ssl-secret":                 "carried: ca.crt verifies the upstream",
		"shop/missing spec.rules[0].http.paths[0]":     "unsupported: not imported: nginx.ingress.kubernetes.io/proxy-ssl-secret: Secret shop/absent is missing",
		"shop/missing proxy-ssl-secret":                "unsupported: the Ingress's paths are not imported: Secret shop/absent is missing",
		"shop/garbage route shop.garbage-0":            "unsupported: disabled: routes[",
		"shop/opaque proxy-ssl-verify":                 "carried: against the Secret's ca.crt",
		"shop/certmanager proxy-ssl-verify":            "carried: against the Secret's ca.crt",
		"shop/nocert proxy-ssl-verify":                 "carried: against the Secret's ca.crt",
		"shop/garbage proxy-ssl-secret":                "carried: ",
		"shop/certmanager backend-protocol":            "carried: ",
		"shop/missing backend-protocol":                "carried: ",
		"shop/opaque backend-protocol":                 "carried: ",
		"shop/nocert backend-protocol":                 "carried: ",
		"shop/garbage backend-protocol":                "carried: ",
		"shop/garbage proxy-ssl-verify":                "carried: ",
		"shop/missing proxy-ssl-verify":                "unsupported: the Ingress's paths are not imported",
		"shop/opaque spec.rules[0].http.paths[0]":      "",
		"shop/nocert spec.rules[0].http.paths[0]":      "",
		"shop/garbage spec.rules[0].http.paths[0]":     "",
		"shop/certmanager spec.rules[0].http.paths[0]": "",
	} {
		g, ok := got[key]
		if want == "" {
			if ok {
				t.Errorf("%s: reported %q", key, g)
			}
			continue
		}
		if !strings.HasPrefix(g, want) {
			t.Errorf("%s: %q, want %q…", key, g, want)
		}
	}
	for k, v := range got {
		if strings.Contains(v, keyMark) || strings.Contains(v, "PRIVATE KEY") {
			t.Errorf("%s: the report shows the key", k)
		}
	}
	if out := mustMarshal(t, u.Routes); strings.Contains(string(out), keyMark) || strings.Contains(string(out), "PRIVATE KEY") {
		t.Errorf("marshalled routes show the key:\n%s", out)
	}
	if r := routeByName(u.Routes, "shop.garbage-0"); r != nil {
		t.Error("a route with an unusable certificate was kept")
	}

	// The routes serve: mutual TLS with the Secret's certificate and CA.
	var served []config.Route
	for _, name := range []string{"shop.opaque-0", "shop.certmanager-0", "shop.nocert-0"} {
		r := routeByName(u.Routes, name)
		if r == nil {
			t.Fatalf("no route %s in %v", name, u.Routes)
		}
		served = append(served, *r)
	}
	tab, err := httproute.New(served)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	front := httptest.NewServer(tab.Handler(http.NotFoundHandler()))
	t.Cleanup(front.Close)
	for host, want := range map[string]string{"opaque.example.com": "200 hello weir", "certmanager.example.com": "200 hello weir", "nocert.example.com": "502"} {
		req, _ := http.NewRequest("GET", front.URL+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strconv.Itoa(resp.StatusCode) + " " + string(b); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q…", host, got, want)
		}
	}
}

func TestUpstreamTLSWithoutSecrets(t *testing.T) {
	objs := []runtime.Object{
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		sslIngress("mtls", "backend", "shop/client"),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: "shop"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}},
	}
	// The agent without certificates: true does not read the Secret.
	u := next(t, run(t, fake.NewClientset(objs...), Options{Debounce: 10 * time.Millisecond}))
	if len(u.Routes) != 0 {
		t.Errorf("routes %+v, want none", u.Routes)
	}
	if got := items(u.Report)["shop/mtls proxy-ssl-secret"]; !strings.Contains(got, "kubernetes.ingress.certificates: true") {
		t.Errorf("report %q does not say how to read the Secret", got)
	}
	// weirctl --from-cluster prints its routes: files to mount, never keys.
	_, u = once(t, fake.NewClientset(objs...), Options{OnUpdate: func(Update) {}, Certificates: true})
	r := routeByName(u.Routes, "shop.mtls-0")
	if r == nil {
		t.Fatalf("no route in %+v", u.Routes)
	}
	want := config.RouteUpstreamTLS{Verify: true, VerifyDepth: 1, CAFile: "/etc/weir/upstream-tls/shop/client/ca.crt",
		CertFile: "/etc/weir/upstream-tls/shop/client/tls.crt", KeyFile: "/etc/weir/upstream-tls/shop/client/tls.key"}
	if got := r.Upstream.TLS; got.CAFile != want.CAFile || got.CertFile != want.CertFile || got.KeyFile != want.KeyFile || got.KeyPEM != "" || !got.Verify || got.VerifyDepth != 1 {
		t.Errorf("tls %+v, want %+v", got, want)
	}
}
