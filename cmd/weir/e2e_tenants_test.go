package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/ratelimit/redistest"
)

const (
	teamAKey = "sk-team-a-0123456789abcdef"
	teamBKey = "sk-team-b-fedcba9876543210"
)

func tenantsConfig(upstream, ratelimit string, rpm int) string {
	sum := sha256.Sum256([]byte(teamBKey))
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
providers:
  - {name: primary, type: openai, base_url: "%s/v1", api_key: "upstream-key"}
models:
  - {name: weir-test, targets: [{provider: primary, model: mock-gpt}]}
  - {name: private-model, targets: [{provider: primary, model: mock-gpt}]}
tenants:
  - name: team-a
    keys: [{env: TEAM_A_KEY}]
    models: ["weir-*"]
    limits: {requests_per_minute: %d, tokens_per_minute: 1000000}
  - name: team-b
    keys: [{sha256: "%s"}]
%s`, upstream, rpm, hex.EncodeToString(sum[:]), ratelimit)
}

func TestE2ETenants(t *testing.T) {
	m, url := mock(t, mockupstream.Options{Words: 8})
	p := weirtest.Start(t, tenantsConfig(url, "", 5), weirtest.Options{Env: []string{"TEAM_A_KEY=" + teamAKey}})
	base := p.URL("public")
	chatURL := base + "/v1/chat/completions"
	msgURL := base + "/v1/messages"
	const msgBody = `{"model":"weir-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

	tests := []struct {
		name, url, body string
		hdr             []string
		status          int
		want            []string
	}{
		{"openai no key", chatURL, chat, nil, 401, []string{`"authentication_error"`, "missing API key"}},
		{"openai bad key", chatURL, chat, []string{"Authorization", "Bearer nope"}, 401, []string{"invalid API key"}},
		{"anthropic no key", msgURL, msgBody, []string{"anthropic-version", "2023-06-01"}, 401, []string{`"type":"error"`, `"authentication_error"`}},
		{"anthropic x-api-key bad", msgURL, msgBody, []string{"x-api-key", "nope", "anthropic-version", "2023-06-01"}, 401, []string{`"authentication_error"`}},
		{"openai model not allowed", chatURL, `{"model":"private-model","messages":[]}`, []string{"Authorization", "Bearer " + teamAKey}, 403, []string{`"permission_error"`, "private-model"}},
		{"anthropic model not allowed", msgURL, strings.Replace(msgBody, "weir-test", "private-model", 1), []string{"x-api-key", teamAKey}, 403, []string{`"permission_error"`}},
		{"api-key header accepted", chatURL, chat, []string{"api-key", teamBKey}, 200, []string{"mock reply"}},
		{"x-api-key accepted on openai route", chatURL, chat, []string{"x-api-key", teamAKey}, 200, []string{"mock reply"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, tc.url, tc.body, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
		})
	}
	// The tenant key never reaches the upstream; the provider key does.
	for _, r := range m.Requests() {
		if r.Header.Get("Authorization") != "Bearer upstream-key" || r.Header.Get("X-Api-Key") != "" || r.Header.Get("Api-Key") != "" {
			t.Fatalf("upstream saw client credentials: %v", r.Header)
		}
	}

	t.Run("models lists what the tenant may use", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+teamAKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"weir-test"`) || strings.Contains(string(b), "private-model") {
			t.Fatalf("team-a models: %s", b)
		}
		resp, _ = http.Get(base + "/v1/models")
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("models without key: %d", resp.StatusCode)
		}
	})

	t.Run("429 with retry-after and ratelimit headers", func(t *testing.T) {
		// team-a has 5 requests/minute; 1 was used above (x-api-key), 2 were 403s
		// after authentication, which reserve nothing.
		var last *http.Response
		var lastBody string
		statuses := []int{}
		for i := 0; i < 6; i++ {
			last, lastBody = post(t, chatURL, chat, "Authorization", "Bearer "+teamAKey)
			statuses = append(statuses, last.StatusCode)
			if last.StatusCode == 200 && last.Header.Get("X-Ratelimit-Remaining-Requests") == "" {
				t.Fatalf("success without remaining-budget headers: %v", last.Header)
			}
		}
		if last.StatusCode != 429 {
			t.Fatalf("statuses %v", statuses)
		}
		ra, err := strconv.Atoi(last.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q", last.Header.Get("Retry-After"))
		}
		if last.Header.Get("X-Ratelimit-Limit-Requests") != "5" || last.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Fatalf("headers %v", last.Header)
		}
		if !strings.Contains(lastBody, "requests_per_minute") || !strings.Contains(lastBody, `"rate_limit_error"`) {
			t.Fatalf("body %s", lastBody)
		}
		// Anthropic dialect for the same denial.
		resp, body := post(t, msgURL, msgBody, "x-api-key", teamAKey)
		if resp.StatusCode != 429 || !strings.Contains(body, `"rate_limit_error"`) || !strings.Contains(body, `"type":"error"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		// team-b is not affected.
		if resp, body := post(t, chatURL, chat, "Authorization", "Bearer "+teamBKey); resp.StatusCode != 200 {
			t.Fatalf("team-b: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("observability", func(t *testing.T) {
		text := p.Metrics()
		for _, want := range []string{`weir_ratelimit_rejections_total{limit="requests_per_minute",tenant="team-a"}`, `tenant="team-a"`, `gen_ai_client_token_usage_bucket`} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		lines := p.AccessLog(10)
		found := false
		for _, l := range lines {
			if l["tenant"] == "team-a" {
				found = true
			}
		}
		if !found {
			t.Error("access log lacks the tenant")
		}
		for _, s := range []string{p.Stderr(), p.Stdout(), text} {
			if strings.Contains(s, teamAKey) || strings.Contains(s, teamBKey) {
				t.Fatal("a tenant key leaked into logs or metrics")
			}
		}
	})
}

// TestE2ETwoProcessesShareRedis runs two weir processes against one real
// redis-server and hammers one small budget through both: together they
// admit no more than the budget plus the refill during the test.
func TestE2ETwoProcessesShareRedis(t *testing.T) {
	rs := redistest.Start(t)
	_, url := mock(t, mockupstream.Options{Words: 2})
	const rpm = 30
	rl := fmt.Sprintf("ratelimit: {backend: redis, redis: {address: %q, prefix: \"e2e:\"}, on_redis_error: deny}\n", rs.Addr)
	env := weirtest.Options{Env: []string{"TEAM_A_KEY=" + teamAKey}}
	p1 := weirtest.Start(t, tenantsConfig(url, rl, rpm), env)
	p2 := weirtest.Start(t, tenantsConfig(url, rl, rpm), env)

	start := time.Now()
	var admitted, denied, other atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			target := p1.URL("public")
			if w%2 == 1 {
				target = p2.URL("public")
			}
			for i := 0; i < 15; i++ {
				req, _ := http.NewRequest(http.MethodPost, target+"/v1/chat/completions", strings.NewReader(chat))
				req.Header.Set("Authorization", "Bearer "+teamAKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					admitted.Add(1)
				case 429:
					denied.Add(1)
				default:
					other.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	// GCRA bound: at most the budget plus what refills while the test runs.
	bound := int64(rpm) + int64(elapsed.Seconds()*rpm/60) + 1
	t.Logf("admitted %d, denied %d, other %d in %v (bound %d)", admitted.Load(), denied.Load(), other.Load(), elapsed, bound)
	if other.Load() != 0 {
		t.Fatalf("%d requests failed otherwise", other.Load())
	}
	if admitted.Load() > bound || admitted.Load() < rpm {
		t.Fatalf("admitted %d across two processes, want between %d and %d", admitted.Load(), rpm, bound)
	}

	// Redis down: on_redis_error deny answers quickly instead of hanging.
	rs.Kill()
	t0 := time.Now()
	resp, body := post(t, p1.URL("public")+"/v1/chat/completions", chat, "Authorization", "Bearer "+teamAKey)
	if resp.StatusCode != 503 && resp.StatusCode != 429 {
		t.Fatalf("with redis down: %d %s", resp.StatusCode, body)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("request hung %v with redis down", d)
	}
}
