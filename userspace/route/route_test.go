package route

import (
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

func tgt(p, m string, prio, w int) config.Target {
	return config.Target{Provider: p, Model: m, Priority: prio, Weight: w}
}

func TestResolve(t *testing.T) {
	table, err := New([]config.Model{
		{Name: "*", Targets: []config.Target{tgt("fallback", "", 0, 1)}},
		{Name: "gpt-4o*", Targets: []config.Target{tgt("oa", "", 0, 1)}},
		{Name: "gpt-4o-mini", Targets: []config.Target{tgt("oa", "gpt-4o-mini-2024", 0, 1), tgt("backup", "m", 1, 1)}},
		{Name: "chat", Targets: []config.Target{tgt("a", "x", 0, 1)}},
		{Name: "chat", MatchHeaders: map[string]string{"x-weir-route": "canary"}, Targets: []config.Target{tgt("canary", "y", 0, 1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		model     string
		header    http.Header
		wantRoute string
		want      []Target
	}{
		{"exact beats glob", "gpt-4o-mini", nil, "gpt-4o-mini", []Target{{"oa", "gpt-4o-mini-2024", 0, 1}, {"backup", "m", 1, 1}}},
		{"longer glob beats star", "gpt-4o-2024", nil, "gpt-4o*", []Target{{"oa", "gpt-4o-2024", 0, 1}}},
		{"star catches the rest and passes the model", "llama3", nil, "*", []Target{{"fallback", "llama3", 0, 1}}},
		{"header route", "chat", http.Header{"X-Weir-Route": {"canary"}}, "chat", []Target{{"canary", "y", 0, 1}}},
		{"header mismatch falls to plain", "chat", http.Header{"X-Weir-Route": {"other"}}, "chat", []Target{{"a", "x", 0, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := table.Resolve(tc.model, tc.header, nil)
			if !ok {
				t.Fatal("no match")
			}
			if m.Name != tc.wantRoute || !reflect.DeepEqual(m.Targets, tc.want) {
				t.Fatalf("got %q %+v, want %q %+v", m.Name, m.Targets, tc.wantRoute, tc.want)
			}
		})
	}
}

func TestResolveUnknown(t *testing.T) {
	table, err := New([]config.Model{{Name: "a", Targets: []config.Target{tgt("p", "", 0, 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := table.Resolve("b", nil, nil); ok {
		t.Fatal("unexpected match")
	}
}

func TestWeightsSplitTraffic(t *testing.T) {
	table, err := New([]config.Model{{Name: "m", Targets: []config.Target{
		tgt("heavy", "", 0, 3), tgt("light", "", 0, 1), tgt("spare", "", 0, 0), tgt("next", "", 1, 1),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	first := map[string]int{}
	const n = 20000
	for range n {
		m, _ := table.Resolve("m", nil, rnd)
		if len(m.Targets) != 4 {
			t.Fatalf("want every target, got %+v", m.Targets)
		}
		if m.Targets[2].Provider != "spare" || m.Targets[3].Provider != "next" {
			t.Fatalf("zero weight must come after weighted ones and priority 1 last: %+v", m.Targets)
		}
		first[m.Targets[0].Provider]++
	}
	// Expect 75% heavy; allow ±2% (the binomial sd here is 0.3%).
	share := float64(first["heavy"]) / n
	if share < 0.73 || share > 0.77 {
		t.Fatalf("heavy first in %.3f of picks, want ~0.75", share)
	}
}

func TestNames(t *testing.T) {
	table, _ := New([]config.Model{
		{Name: "b", Targets: []config.Target{tgt("p", "", 0, 1)}},
		{Name: "a", Targets: []config.Target{tgt("p", "", 0, 1)}},
		{Name: "x*", Targets: []config.Target{tgt("p", "", 0, 1)}},
	})
	got := table.Names(func(s string) bool { return s != "b" })
	if !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("got %v", got)
	}
}
