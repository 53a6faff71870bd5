package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/internal/weirtest"
)

// TestPrivilegedE2EKernelBlock is the L7 → kernel hand-off through the real
// binary: a tenant that keeps sending after its requests/min budget is gone
// is reported to the kernel guard, which then drops its packets (a
// blocked-until entry), so its next connection attempt no longer reaches
// weir at all. weir runs in a network namespace with the guard on its lo.
func TestPrivilegedE2EKernelBlock(t *testing.T) {
	privileged.Require(t)
	ns := netnstest.New(t, "weir-kblock")
	root := weirtest.PinRoot(t, "kblock")

	// The namespace has its own lo: the mock listens inside it too.
	var mockURL string
	var closeMock func() error
	if err := ns.Do(func() error {
		var err error
		mockURL, closeMock, err = mockupstream.New(mockupstream.Options{Words: 2}).Listen("127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeMock() })

	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
providers: [{name: primary, type: openai, base_url: "%s/v1"}]
models: [{name: weir-test, targets: [{provider: primary, model: mock-gpt}]}]
tenants:
  - name: team-a
    keys: [{env: TEAM_A_KEY}]
    limits: {requests_per_minute: 2}
    sources: ["127.0.0.0/8"]
ratelimit: {kernel_block_after: 3, kernel_block_for: 1m}
dataplane: {mode: "on", guard: {hook: tc, interfaces: [lo]}}
`, mockURL)
	w := startOwned(t, cfg, ownedOptions{ns: ns, env: []string{"TEAM_A_KEY=" + teamAKey, "WEIR_DATAPLANE_ROOT=" + root}})
	base := publicURL(w)
	client := &http.Client{Transport: &http.Transport{DialContext: nsDialer(ns), DisableKeepAlives: true}, Timeout: 2 * time.Second}
	send := func() (int, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(chat))
		req.Header.Set("Authorization", "Bearer "+teamAKey)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var statuses []int
	for range 4 { // 2 admitted, then 2 rejections in a row
		code, err := send()
		if err != nil {
			t.Fatalf("request %d failed before the block: %v (statuses so far %v)\n%s", len(statuses)+1, err, statuses, w.log())
		}
		statuses = append(statuses, code)
	}
	if fmt.Sprint(statuses) != "[200 200 429 429]" {
		t.Fatalf("statuses %v, want [200 200 429 429]", statuses)
	}
	// The third rejection in a row reports the tenant. Its 429 itself may be
	// dropped: on lo weir's reply also enters the guarded interface from a
	// team-a address (on a real NIC replies leave by egress, unguarded).
	_, _ = send()
	r, err := dataplane.Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	var blockedFor time.Duration
	for _, ts := range r.Tenants {
		if ts.Name == "team-a" {
			blockedFor = ts.BlockedFor
		}
	}
	if blockedFor <= 0 || blockedFor > time.Minute {
		t.Fatalf("team-a blocked for %v in the kernel, want up to 1m", blockedFor)
	}
	// The next attempt is dropped in the kernel: no answer, not even a 429.
	if code, err := send(); err == nil {
		t.Fatalf("blocked tenant still answered (%d)", code)
	}
	r, err = dataplane.Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	var blocked uint64
	for _, c := range r.Counters {
		if c.Tenant == "team-a" && c.Verdict == "blocked" {
			blocked += c.Packets
		}
	}
	if blocked == 0 {
		t.Fatalf("no packets counted as blocked: %+v", r.Counters)
	}
}
