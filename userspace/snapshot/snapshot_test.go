package snapshot

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/h1client"
	"github.com/weir-gateway/weir/userspace/sockio"
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

// TestTransportsHTTPS: an https:// provider gets net/http's transport,
// over raw-I/O sockets, and still negotiates HTTP/2 and streams a body.
func TestTransportsHTTPS(t *testing.T) {
	body := strings.Repeat("chunk of a longer answer\n", 4096) // 100 KiB: several reads and frames
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", strconv.Itoa(len(got)))
		io.WriteString(w, body)
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	defer s.Close()
	p := NewTransports().get(config.Provider{Name: "tls", BaseURL: s.URL + "/v1"})
	tr, ok := p.(*http.Transport)
	if !ok {
		t.Fatalf("an https provider got %T, want *http.Transport", p)
	}
	var dialed net.Conn
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		dialed = c
		return c, err
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	for range 2 {
		resp, err := (&http.Client{Transport: tr}).Post(s.URL, "text/plain", strings.NewReader(strings.Repeat("q", 50000)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != body || resp.Header.Get("X-Got") != "50000" {
			t.Fatalf("read %d bytes (%v), server got %s; want the whole exchange", len(got), err, resp.Header.Get("X-Got"))
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
		}
	}
	if runtime.GOOS == "linux" {
		if _, ok := dialed.(*sockio.Conn); !ok {
			t.Fatalf("dialed %T, want a *sockio.Conn", dialed)
		}
	}
}
