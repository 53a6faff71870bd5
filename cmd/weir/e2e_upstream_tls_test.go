package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
)

const upstreamTLSFixture = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %[1]s
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/backend-protocol: HTTPS
    nginx.ingress.kubernetes.io/proxy-ssl-secret: shop/%[1]s-client
    nginx.ingress.kubernetes.io/proxy-ssl-verify: "on"
    nginx.ingress.kubernetes.io/proxy-ssl-protocols: TLSv1.2 TLSv1.3
spec:
  ingressClassName: nginx
  rules:
    - host: %[1]s.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: secure, port: {number: 443}}}}
`

// TestE2EUpstreamMutualTLS imports Ingresses with proxy-ssl-secret through
// weirctl, mounts the Secrets' files where the report says, and serves
// them through the real binary to an upstream that requires a client
// certificate: the Secret's certificate gets through, a stranger's does
// not. A hand-written route with the key inline (from the environment)
// serves too, and /config does not show that key.
func TestE2EUpstreamMutualTLS(t *testing.T) {
	serverCA, clientCA, otherCA := httproutetest.NewCA(t, "server-ca"), httproutetest.NewCA(t, "client-ca"), httproutetest.NewCA(t, "other-ca")
	client, stranger := clientCA.Issue(t, "weir"), otherCA.Issue(t, "stranger")
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{serverCA.Issue(t, "127.0.0.1").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: httproutetest.Pool(clientCA)}
	up.StartTLS()
	defer up.Close()
	upAddr := strings.TrimPrefix(up.URL, "https://")

	dir := t.TempDir()
	in := filepath.Join(dir, "ingress.yaml")
	if err := os.WriteFile(in, []byte(fmt.Sprintf(upstreamTLSFixture, "good")+"---\n"+fmt.Sprintf(upstreamTLSFixture, "bad")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(weirtest.Weirctl(t), "import-ingress", "-f", in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("import-ingress: %v\n%s", err, stderr.String())
	}
	const mount = "/etc/weir/upstream-tls"
	if want := "differs     nginx.ingress.kubernetes.io/proxy-ssl-secret=\"shop/good-client\": mount Secret shop/good-client at " + mount + "/shop/good-client"; !strings.Contains(stderr.String(), want) {
		t.Fatalf("the report does not say where to mount the Secret:\n%s", stderr.String())
	}
	// "Mount" the Secrets: the good one holds the client certificate the
	// upstream trusts, the bad one a stranger's; both hold the server's CA.
	secrets := filepath.Join(dir, "upstream-tls")
	for name, leaf := range map[string]*httproutetest.Leaf{"good-client": client, "bad-client": stranger} {
		d := filepath.Join(secrets, "shop", name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for file, data := range map[string][]byte{"ca.crt": serverCA.PEM(), "tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM} {
			if err := os.WriteFile(filepath.Join(d, file), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	routes := strings.ReplaceAll(string(out), mount, secrets)
	routes = strings.ReplaceAll(routes, "secure.shop.svc.cluster.local:443", upAddr)
	routes = strings.TrimPrefix(routes, "version: 1\nroutes:\n")
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
routes:
%s  - name: inline
    host: inline.example.com
    upstream:
      servers: [%q]
      protocol: https
      tls: {verify: true, ca_pem: "${UPSTREAM_CA}", cert_pem: "${UPSTREAM_CERT}", key_pem: "${UPSTREAM_KEY}", min_version: "1.3"}
`, routes, upAddr)
	p := weirtest.Start(t, cfg, weirtest.Options{Env: []string{
		"UPSTREAM_CA=" + string(serverCA.PEM()), "UPSTREAM_CERT=" + string(client.CertPEM), "UPSTREAM_KEY=" + string(client.KeyPEM)}})

	get := func(url, host string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for host, want := range map[string]string{
		"good.example.com":   "200 hello weir",
		"inline.example.com": "200 hello weir",
		"bad.example.com":    "502 ",
	} {
		code, body := get(p.URL("public")+"/", host)
		if got := fmt.Sprintf("%d %s", code, body); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q…", host, got, want)
		}
	}
	code, conf := get(p.AdminURL()+"/config", "")
	if code != 200 || !strings.Contains(conf, "inline.example.com") {
		t.Fatalf("/config: %d %.200s", code, conf)
	}
	keyMark := string(client.KeyPEM[40:80])
	if strings.Contains(conf, keyMark) || strings.Contains(conf, "PRIVATE KEY") || strings.Contains(p.Stderr()+p.Stdout(), keyMark) {
		t.Error("the client key shows in /config or weir's output")
	}
}
