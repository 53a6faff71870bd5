package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-gateway/weir/userspace/importer/ingress"
)

const statusIP = "192.0.2.7"

func lbIPs(ing *networkingv1.Ingress) []string {
	var out []string
	for _, e := range ing.Status.LoadBalancer.Ingress {
		out = append(out, e.IP+e.Hostname)
	}
	return out
}

// TestKubernetesIngressStatus: weir writes status_address to the Ingresses
// it serves and takes only that address off an Ingress that leaves its
// class (ingressClassName changed, legacy annotation removed) or whose
// paths are all disabled; an Ingress it never served keeps its status,
// and shutting down clears nothing.
func TestKubernetesIngressStatus(t *testing.T) {
	kubeBackend := backend(t, "kube")
	legacy := testIngress("legacy", "legacy.test", map[string]string{"kubernetes.io/ingress.class": "nginx"})
	legacy.Spec.IngressClassName = nil
	foreign := testIngress("foreign", "foreign.test", nil)
	other := "other"
	foreign.Spec.IngressClassName = &other
	// Another controller's Ingress that happens to carry the same address:
	// weir never wrote it, so it never clears it.
	foreign.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: statusIP}}
	client := fakeShop(t, kubeBackend,
		testIngress("moves", "moves.test", nil),
		testIngress("breaks", "breaks.test", nil),
		testIngress("stays", "stays.test", nil),
		legacy,
		foreign,
	)

	path := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(path, []byte(kubeAgentConfig("file.test", kubeBackend.Host)), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Start(Options{ConfigPath: path, Stderr: io.Discard, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = a.Shutdown()
		}
	})
	addr := a.Addr("public").String()

	api := client.NetworkingV1().Ingresses("shop")
	getIng := func(name string) *networkingv1.Ingress {
		t.Helper()
		ing, err := api.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ing
	}
	// waitStatus polls (bounded) until the Ingress's status is want.
	waitStatus := func(name string, want ...string) {
		t.Helper()
		var got []string
		for range 400 {
			if got = lbIPs(getIng(name)); slices.Equal(got, want) {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("Ingress shop/%s status %v, want %v", name, got, want)
	}
	edit := func(name string, f func(*networkingv1.Ingress)) {
		t.Helper()
		ing := getIng(name)
		f(ing)
		if _, err := api.Update(context.Background(), ing, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	for _, n := range []string{"moves", "breaks", "stays", "legacy"} {
		waitStatus(n, statusIP)
	}
	eventually(t, addr, "moves.test", "kube /")

	// Someone else adds an address beside weir's: weir keeps it.
	ing := getIng("moves")
	ing.Status.LoadBalancer.Ingress = append(ing.Status.LoadBalancer.Ingress, networkingv1.IngressLoadBalancerIngress{IP: "203.0.113.9"})
	if _, err := api.UpdateStatus(context.Background(), ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Leaves the class: only weir's address goes.
	edit("moves", func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = &other })
	waitStatus("moves", "203.0.113.9")
	// The legacy class annotation removed.
	edit("legacy", func(ing *networkingv1.Ingress) { delete(ing.Annotations, "kubernetes.io/ingress.class") })
	waitStatus("legacy")
	// Every path disabled: weir no longer serves it.
	edit("breaks", func(ing *networkingv1.Ingress) {
		ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/whitelist-source-range": "not-a-cidr"}
	})
	waitStatus("breaks")
	// Back in the class: written again.
	edit("moves", func(ing *networkingv1.Ingress) {
		nginx := "nginx"
		ing.Spec.IngressClassName = &nginx
	})
	waitStatus("moves", statusIP)

	if got := lbIPs(getIng("stays")); !slices.Equal(got, []string{statusIP}) {
		t.Errorf("the Ingress still served lost its status: %v", got)
	}
	if got := lbIPs(getIng("foreign")); !slices.Equal(got, []string{statusIP}) {
		t.Errorf("an Ingress weir never served had its status changed: %v", got)
	}
	stopped = true
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if got := lbIPs(getIng("stays")); !slices.Equal(got, []string{statusIP}) {
		t.Errorf("shutting down changed the status of a served Ingress: %v", got)
	}
}

// TestServedIngresses: which Ingresses of a report count as served.
func TestServedIngresses(t *testing.T) {
	rep := importReport(t, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: main, namespace: ns}
spec:
  ingressClassName: nginx
  rules: [{host: a.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: canary, namespace: ns, annotations: {nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "5"}}
spec:
  ingressClassName: nginx
  rules: [{host: a.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s2, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: ns, annotations: {nginx.ingress.kubernetes.io/denylist-source-range: "nope"}}
spec:
  ingressClassName: nginx
  rules: [{host: b.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: foreign, namespace: ns}
spec:
  ingressClassName: traefik
  rules: [{host: c.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}}]
`)
	got := servedIngresses(rep)
	want := map[string]bool{"ns/main": true, "ns/canary": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("served %v, want %v", got, want)
	}
	if len(servedIngresses(nil)) != 0 {
		t.Error("a nil report serves something")
	}
}

func importReport(t *testing.T, yaml string) *ingress.Report {
	t.Helper()
	objs := &ingress.Objects{}
	if err := objs.Add("test", []byte(yaml)); err != nil {
		t.Fatal(err)
	}
	_, rep := ingress.Import(objs, ingress.Options{})
	return rep
}
