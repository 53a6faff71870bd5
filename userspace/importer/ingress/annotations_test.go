package ingress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-gateway/weir/userspace/config"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"1024", 1024, false}, {"8m", 8 << 20, false}, {"8M", 8 << 20, false},
		{"512k", 512 << 10, false}, {"1g", 1 << 30, false}, {" 2m ", 2 << 20, false},
		{"", 0, true}, {"m", 0, true}, {"-1", 0, true}, {"1.5m", 0, true}, {"1t", 0, true},
		{"99999999999999999999g", 0, true}, {"9000000000g", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"60", time.Minute, false}, {"60s", time.Minute, false}, {"2m", 2 * time.Minute, false}, {"1h", time.Hour, false},
		{"0", 0, false}, {"", 0, true}, {"-1", 0, true}, {"1.5", 0, true}, {"5d", 0, true}, {"99999999999", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSeconds(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseSeconds(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseAnnotations(t *testing.T) {
	a := ParseAnnotations(map[string]string{
		Prefix + "whitelist-source-range": "10.0.0.1",
		Prefix + "allowlist-source-range": "10.1.0.0/16",
		Prefix + "canary-weight":          "30",
		Prefix + "proxy-body-size":        "nope",
		Prefix + "made-up":                "1",
		"other.example/annotation":        "x",
	})
	if got := len(a.AllowSourceRange); got != 2 {
		t.Errorf("both allow-list spellings add up: got %d prefixes", got)
	}
	if a.CanaryWeight == nil || *a.CanaryWeight != 30 {
		t.Errorf("canary-weight = %v", a.CanaryWeight)
	}
	if a.Invalid["proxy-body-size"] == nil || a.ProxyBodySize != nil {
		t.Errorf("an invalid size must be recorded as invalid and not set: %v %v", a.Invalid, a.ProxyBodySize)
	}
	if _, ok := a.Set["made-up"]; !ok {
		t.Error("an unknown annotation must be kept in Set so it is reported")
	}
	if _, ok := a.Set["other.example/annotation"]; ok || len(a.Set) != 5 {
		t.Errorf("Set = %v", a.Set)
	}
}

// TestEveryParsedAnnotationIsJudged keeps the parser table and the
// translation in step: an annotation the parser reads must have a
// verdict other than "not implemented".
func TestEveryParsedAnnotationIsJudged(t *testing.T) {
	im := &importer{byKey: map[pathKey]*routeOwner{}}
	for name := range specs {
		st := &ingressState{a: ParseAnnotations(nil)}
		if _, why := im.judge(st, name); why == notImplemented {
			t.Errorf("%s is parsed but judged %q", name, why)
		}
	}
}

// FuzzAnnotations feeds arbitrary values to every known annotation: the
// parser must not panic, every annotation must be reported, and the
// routes must always load as a weir configuration.
func FuzzAnnotations(f *testing.F) {
	for _, s := range []string{"true", "8m", "/$1", "10.0.0.0/8,::1", "$remote_addr", "error timeout http_502", "https://a.example", "${X}", "", "\n", "0", "yes"} {
		f.Add("rewrite-target", s, "/api(/|$)(.*)")
		f.Add("proxy-body-size", s, "/")
		f.Add("whitelist-source-range", s, "/x")
		f.Add("cors-allow-origin", s, "/")
		f.Add("upstream-hash-by", s, "/")
		f.Add("permanent-redirect", s, "/")
		f.Add("canary-by-header-pattern", s, "/")
	}
	f.Fuzz(func(t *testing.T, name, value, path string) {
		pt := networkingv1.PathTypeImplementationSpecific
		ann := map[string]string{Prefix + name: value, Prefix + "enable-cors": "true", Prefix + "affinity": "cookie"}
		if name == "upstream-hash-by" {
			delete(ann, Prefix+"affinity")
		}
		ing := networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "f", Namespace: "default", Annotations: ann},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "a.example", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &pt,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "s", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
		}
		routes, rep := Import(&Objects{Ingresses: []networkingv1.Ingress{ing}}, Options{WatchWithoutClass: true})
		reported := 0
		for _, it := range rep.Ingresses[0].Items {
			if strings.HasPrefix(it.Key, Prefix) {
				reported++
			}
		}
		if reported != len(ann) {
			t.Fatalf("%d annotations, %d reported", len(ann), reported)
		}
		out, err := MarshalRoutes(routes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(out); err != nil {
			t.Fatalf("routes do not load: %v\n%s", err, out)
		}
		var b bytes.Buffer
		if _, err := rep.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
	})
}
