package agent

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
)

// TestKubernetesIngressTLS: a TLS listener answers with an Ingress's
// certificate (from its TLS Secret) for that host by SNI, and with its own
// certificate for any other name.
func TestKubernetesIngressTLS(t *testing.T) {
	shop := httproutetest.Cert(t, "shop.test")
	certPEM, keyPEM := shop.CertPEM, shop.KeyPEM
	ing := testIngress("web", "shop.test", nil)
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"shop.test"}, SecretName: "shop-tls"}}
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-tls", Namespace: "shop"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}},
		ing,
	)
	useFakeClient(t, client)

	cfg := strings.Replace(kubeAgentConfig("file.test", "127.0.0.1:9"),
		`listeners: [{name: public, address: "127.0.0.1:0"}]`,
		`listeners: [{name: public, address: "127.0.0.1:0"}, {name: secure, address: "127.0.0.1:0", tls: {self_signed: true}}]`, 1)
	cfg = strings.Replace(cfg, "status_address: 192.0.2.7}", "status_address: 192.0.2.7, certificates: true}", 1)
	a, _ := startAgent(t, cfg)
	addr := a.Addr("secure").String()

	peer := func(name string) []string {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // inspecting the served certificate
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames
	}
	var got []string
	for range 400 {
		if got = peer("shop.test"); slices.Contains(got, "shop.test") {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !slices.Contains(got, "shop.test") {
		t.Fatalf("SNI shop.test got a certificate for %v, want the Ingress's", got)
	}
	if other := peer("other.test"); slices.Contains(other, "shop.test") || !slices.Contains(other, "localhost") {
		t.Fatalf("SNI other.test got %v, want the listener's own self-signed certificate", other)
	}
}
