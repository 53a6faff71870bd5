package snapshot

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/h1client"
)

// TestTransportsRetain: a reload keeps the pools of unchanged providers
// (warm connections survive) and retires the others, closing their idle
// connections and forgetting them.
func TestTransportsRetain(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer s.Close()
	a := config.Provider{Name: "a", BaseURL: s.URL + "/v1"}
	b := config.Provider{Name: "b", BaseURL: s.URL + "/v1"}
	ts := NewTransports()
	pa, pb := ts.get(a), ts.get(b)
	for _, p := range []pool{pa, pb} {
		resp, err := (&http.Client{Transport: p}).Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	idle := func(p pool) int { return p.(*h1client.Transport).IdleConnections() }
	if idle(pa) != 1 || idle(pb) != 1 {
		t.Fatalf("idle connections %d and %d, want 1 each", idle(pa), idle(pb))
	}

	ts.Retain(&config.Config{Providers: []config.Provider{a}}) // b removed
	if ts.get(a) != pa || idle(pa) != 1 {
		t.Error("the unchanged provider lost its pool or its warm connection")
	}
	if idle(pb) != 0 {
		t.Errorf("the retired pool still holds %d idle connections", idle(pb))
	}
	if ts.get(b) == pb {
		t.Error("a provider added back got its retired (closed) pool")
	}
}
