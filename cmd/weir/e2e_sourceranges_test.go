package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/internal/weirtest"
)

// TestPrivilegedE2ESourceRanges runs weir with the guard in one network
// namespace and clients in another, joined by a veth pair: a routes-only
// listener whose one route allows two client addresses and limits each
// client to 1 request/s. In the kernel, a third address's packets to that
// port are dropped (port_denied) while it is still served on the API
// listener, and an allowed client opening connections faster than the
// route's rate has the extra ones dropped (over_port_source_rate) while the
// other allowed client connects.
func TestPrivilegedE2ESourceRanges(t *testing.T) {
	privileged.Require(t)
	gw := netnstest.New(t, "weir-src-gw")
	cl := netnstest.New(t, "weir-src-cl")
	netnstest.Veth(t, gw, "wsrc0", []string{"10.77.0.1/24"}, cl, "csrc0", []string{"10.77.0.2/24", "10.77.0.3/24", "10.77.0.4/24"})
	root := weirtest.PinRoot(t, "src")

	// The route's upstream and the AI provider live in weir's namespace.
	var upstream net.Listener
	var mockURL string
	var closeMock func() error
	if err := gw.Do(func() error {
		var err error
		if upstream, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		mockURL, closeMock, err = mockupstream.New(mockupstream.Options{Words: 2}).Listen("127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeMock() })
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "app") })}
	go func() { _ = app.Serve(upstream) }()
	t.Cleanup(func() { _ = app.Close() })

	cfg := fmt.Sprintf(`version: 1
listeners:
  - {name: web, address: "10.77.0.1:18080", serve: [routes]}
  - {name: api, address: "10.77.0.1:18081", serve: [api]}
admin: {address: "127.0.0.1:0"}
providers: [{name: primary, type: openai, base_url: "%s/v1"}]
models: [{name: weir-test, targets: [{provider: primary, model: mock-gpt}]}]
routes:
  - name: app
    path: /
    upstream: {servers: ["%s"]}
    allow_sources: ["10.77.0.2/32", "10.77.0.3/32"]
    limits: {requests_per_second: 1, burst_multiplier: 1}
dataplane: {mode: "on", guard: {hook: tc, interfaces: [wsrc0]}}
`, mockURL, upstream.Addr())
	w := startOwned(t, cfg, ownedOptions{ns: gw, env: []string{"WEIR_DATAPLANE_ROOT=" + root}})

	get := func(from, url string) (int, string, error) {
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dialFrom(cl, from, 2*time.Second)}}
		resp, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	const web, api = "http://10.77.0.1:18080", "http://10.77.0.1:18081"

	// A listed source is served on the routes listener, which does not
	// serve the API.
	if code, body, err := get("10.77.0.2", web+"/"); err != nil || code != 200 || body != "app" {
		t.Fatalf("allowed source: %d %q %v\n%s", code, body, err, w.log())
	}
	// An unlisted source: dropped in the kernel, so no answer at all (Go
	// would have said 403).
	if code, _, err := get("10.77.0.4", web+"/"); err == nil {
		t.Fatalf("unlisted source answered %d on the routes listener", code)
	}
	// The same source on the API listener is served (the API admits every
	// source: 404 for an unknown path, from the API, not the routes).
	code, body, err := get("10.77.0.4", api+"/v1/nothing")
	if err != nil || code != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("unlisted source on the API listener: %d %q %v", code, body, err)
	}
	// serve: [api] does not serve the routes.
	if code, body, err := get("10.77.0.2", api+"/"); err != nil || body == "app" {
		t.Fatalf("API listener served the route: %d %q %v", code, body, err)
	}

	// Connection bound: the route takes 1 request/s (burst 1) per client,
	// so the kernel lets each source open 1 connection/s (burst 1). The
	// first connection from .3 passes; more right after it are dropped
	// (their SYNs: the dial times out).
	dial := func(from string) error {
		c, err := dialFrom(cl, from, 300*time.Millisecond)(context.Background(), "tcp", "10.77.0.1:18080")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("10.77.0.3"); err != nil {
		t.Fatalf("first connection from 10.77.0.3: %v", err)
	}
	refused := 0
	for range 3 {
		if err := dial("10.77.0.3"); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("10.77.0.3 opened 4 connections at once, the kernel bound (1/s, burst 1) dropped none")
	}

	r, err := dataplane.Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, c := range r.Counters {
		counts[c.Verdict] += c.Packets
	}
	if counts["port_denied"] == 0 || counts["over_port_source_rate"] == 0 {
		t.Fatalf("kernel counters %v: want port_denied and over_port_source_rate", counts)
	}
	if len(r.Ports) != 1 || r.Ports[0].Port != 18080 || r.Ports[0].SourceConnections.PerSecond != 1 {
		t.Fatalf("port rules %+v, want one for tcp/18080 bounded at 1/s", r.Ports)
	}
	// 10.77.0.2 was served at the start and has not connected since: its
	// bucket has refilled, a new connection passes while .3 is throttled.
	if code, _, err := get("10.77.0.2", web+"/"); err != nil || code != 200 {
		t.Fatalf("the other allowed source: %d %v", code, err)
	}

	out, err := exec.Command(weirtest.Weirctl(t), "maps", "-root", root).CombinedOutput()
	if err != nil {
		t.Fatalf("weirctl maps: %v\n%s", err, out)
	}
	for _, want := range []string{"tcp/18080 (limit: 1 new connections/s per source", "10.77.0.2/31  limit", "port_denied", "over_port_source_rate"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("weirctl maps lacks %q:\n%s", want, out)
		}
	}
}

// dialFrom dials from source address src inside ns.
func dialFrom(ns *netnstest.NS, src string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			d := &net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
