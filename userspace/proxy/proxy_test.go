package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/metrics"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/snapshot"
	"github.com/weir-gateway/weir/userspace/sse"
)

// echoTranslator is a minimal OpenAI-shaped passthrough, so these tests
// exercise the attempt loop alone; the real translators have their own
// golden tests and the end-to-end tests run them through the binary.
type echoTranslator struct {
	usage provider.Usage
	done  bool
}

func (e *echoTranslator) Request(req *provider.Request, model string) (*provider.Upstream, error) {
	if strings.Contains(string(req.Body), "unsupported-feature") {
		return nil, &provider.UnsupportedError{Feature: "unsupported-feature", Provider: "echo"}
	}
	h := http.Header{"X-Upstream-Model": {model}}
	for k, v := range req.Header {
		h["X-Client-"+k] = v // everything the translator can see of the client's headers
	}
	return &provider.Upstream{Method: http.MethodPost, Path: "/chat/completions", Body: req.Body, Header: h}, nil
}

func (e *echoTranslator) Response(body []byte) ([]byte, provider.Usage, error) {
	var v struct {
		Usage struct {
			P int64 `json:"prompt_tokens"`
			C int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, provider.Usage{}, err
	}
	e.usage = provider.Usage{InputTokens: v.Usage.P, OutputTokens: v.Usage.C}
	return body, e.usage, nil
}

func (e *echoTranslator) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	if string(ev.Data) == "[DONE]" {
		e.done = true
		return provider.Chunk{}, nil
	}
	if strings.Contains(string(ev.Data), `"error"`) {
		return provider.Chunk{}, &provider.UpstreamError{Status: 500, Type: "server_error", Message: "boom"}
	}
	e.usage.OutputTokens++
	return provider.Chunk{Data: sse.AppendEvent(nil, ev), Content: strings.Contains(string(ev.Data), "content")}, nil
}

func (e *echoTranslator) StreamEnd() ([]byte, error) {
	if !e.done {
		return nil, fmt.Errorf("stream ended without [DONE]")
	}
	return []byte("data: [DONE]\n\n"), nil
}

func (e *echoTranslator) StreamError(status int, msg string) []byte {
	return []byte(fmt.Sprintf("data: {\"error\":{\"message\":%q,\"code\":%d}}\n\n", msg, status))
}

func (e *echoTranslator) Usage() provider.Usage { return e.usage }

func (e *echoTranslator) Error(status int, body []byte) []byte { return body }

// upstream is a scripted test upstream: each request takes the next behaviour.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	plan  []func(w http.ResponseWriter, r *http.Request)
	calls atomic.Int64
}

func newUpstream(t *testing.T, plan ...func(w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{plan: plan}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		u.mu.Lock()
		var f func(w http.ResponseWriter, r *http.Request)
		if len(u.plan) > 0 {
			f = u.plan[0]
			if len(u.plan) > 1 {
				u.plan = u.plan[1:]
			}
		}
		u.mu.Unlock()
		if f == nil {
			ok(w, r)
			return
		}
		f(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func ok(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`)
}

func status(code int, hdr ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"error":{"message":"status %d"}}`, code)
	}
}

func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// stream sends n content chunks, then optionally cuts the connection.
func stream(n int, delay time.Duration, cut bool) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		_, _ = io.WriteString(w, "data: {\"role\":\"assistant\"}\n\n")
		fl.Flush()
		for i := range n {
			time.Sleep(delay)
			_, _ = fmt.Fprintf(w, "data: {\"content\":\"c%d\"}\n\n", i)
			fl.Flush()
		}
		if cut {
			reset(w, r)
			return
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}
}

type fixture struct {
	h       *Handler
	store   *snapshot.Store
	srv     *httptest.Server
	metrics *metrics.Metrics
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, yaml string) *fixture {
	t.Helper()
	return newFixtureWith(t, yaml, func() provider.Translator { return &echoTranslator{} })
}

// newFixtureWith is newFixture with the translators newTr makes.
func newFixtureWith(t *testing.T, yaml string, newTr func() provider.Translator) *fixture {
	t.Helper()
	cfg, err := config.Load([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	kinds := map[string]snapshot.Kind{"openai": {New: func(provider.API) (provider.Translator, error) { return newTr(), nil }}}
	snap, err := snapshot.Compile(cfg, snapshot.Deps{Kinds: kinds, Transports: snapshot.NewTransports()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: &snapshot.Store{}, reg: prometheus.NewRegistry()}
	f.store.Swap(snap)
	f.metrics = metrics.New(f.reg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.h = &Handler{Store: f.store, Health: NewHealth(), Metrics: f.metrics, Log: log}
	mux := http.NewServeMux()
	f.h.Mount(mux)
	f.srv = httptest.NewServer(Middleware(log, mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) post(t *testing.T, path, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
const streamBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

func twoTargets(a, b string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
retry: {max_attempts: 3, backoff: 1ms, max_backoff: 5ms, failure_threshold: 100}
server: {keepalive_interval: 50ms}
providers:
  - {name: a, type: openai, base_url: %q, timeouts: {first_byte: 300ms, idle: 300ms}}
  - {name: b, type: openai, base_url: %q, timeouts: {first_byte: 300ms, idle: 300ms}}
models:
  - name: m
    targets:
      - {provider: a, model: ma, priority: 0}
      - {provider: b, model: mb, priority: 1}
`, a, b)
}

func TestAttemptLoop(t *testing.T) {
	type tc struct {
		name       string
		a, b       []func(http.ResponseWriter, *http.Request)
		body       string
		wantStatus int
		wantA      int64
		wantB      int64
		wantBody   string
	}
	tests := []tc{
		{name: "first target answers", a: nil, body: chatBody, wantStatus: 200, wantA: 1, wantB: 0, wantBody: `"hi"`},
		{name: "5xx fails over to next priority", a: []func(http.ResponseWriter, *http.Request){status(500)}, body: chatBody, wantStatus: 200, wantA: 1, wantB: 1},
		{name: "reset fails over", a: []func(http.ResponseWriter, *http.Request){reset}, body: chatBody, wantStatus: 200, wantA: 1, wantB: 1},
		{name: "429 moves on", a: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "1")}, body: chatBody, wantStatus: 200, wantA: 1, wantB: 1},
		{name: "400 is never retried", a: []func(http.ResponseWriter, *http.Request){status(400)}, body: chatBody, wantStatus: 400, wantA: 1, wantB: 0, wantBody: "status 400"},
		{name: "422 is never retried", a: []func(http.ResponseWriter, *http.Request){status(422)}, body: chatBody, wantStatus: 422, wantA: 1, wantB: 0},
		{name: "all fail with 5xx gives 502 after max attempts", a: []func(http.ResponseWriter, *http.Request){status(500)}, b: []func(http.ResponseWriter, *http.Request){status(500)}, body: chatBody, wantStatus: 502, wantA: 2, wantB: 1},
		{name: "all 503 gives 503", a: []func(http.ResponseWriter, *http.Request){status(503)}, b: []func(http.ResponseWriter, *http.Request){status(503)}, body: chatBody, wantStatus: 503, wantA: 2, wantB: 1},
		{name: "slow first byte times out and fails over", a: []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}}, body: chatBody, wantStatus: 200, wantA: 1, wantB: 1},
		{name: "stream reset before content fails over", a: []func(http.ResponseWriter, *http.Request){stream(0, 0, true)}, b: []func(http.ResponseWriter, *http.Request){stream(3, 0, false)}, body: streamBody, wantStatus: 200, wantA: 1, wantB: 1, wantBody: "data: [DONE]"},
		{name: "unsupported feature is a 400", body: `{"model":"m","unsupported-feature":true}`, wantStatus: 400, wantA: 0, wantB: 0, wantBody: "unsupported-feature is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newUpstream(t, tt.a...)
			b := newUpstream(t, tt.b...)
			f := newFixture(t, twoTargets(a.srv.URL, b.srv.URL))
			resp, body := f.post(t, "/v1/chat/completions", tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if a.calls.Load() != tt.wantA || b.calls.Load() != tt.wantB {
				t.Fatalf("calls a=%d b=%d, want a=%d b=%d", a.calls.Load(), b.calls.Load(), tt.wantA, tt.wantB)
			}
			if tt.wantBody != "" && !strings.Contains(body, tt.wantBody) {
				t.Fatalf("body %q lacks %q", body, tt.wantBody)
			}
			if resp.StatusCode >= 400 && !json.Valid([]byte(body)) {
				t.Fatalf("error body is not JSON: %q", body)
			}
		})
	}
}

func TestStreamCutAfterContentEndsWithErrorEvent(t *testing.T) {
	a := newUpstream(t, stream(2, 0, true))
	b := newUpstream(t)
	f := newFixture(t, twoTargets(a.srv.URL, b.srv.URL))
	resp, body := f.post(t, "/v1/chat/completions", streamBody)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if b.calls.Load() != 0 {
		t.Fatal("a stream must not fail over after content started")
	}
	if !strings.Contains(body, `"c1"`) || !strings.Contains(body, `"error"`) || strings.Contains(body, "[DONE]") {
		t.Fatalf("want content, then an error event and no [DONE]; got %q", body)
	}
}

func TestStreamFlushesEachChunk(t *testing.T) {
	a := newUpstream(t, stream(3, 150*time.Millisecond, false))
	f := newFixture(t, twoTargets(a.srv.URL, a.srv.URL))
	resp, err := http.Post(f.srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	// The first content line must arrive while the upstream is still
	// sending the others: a buffering proxy would deliver it with the rest.
	start := time.Now()
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"c0"`) {
			break
		}
	}
	first := time.Since(start)
	rest, _ := io.ReadAll(rd)
	total := time.Since(start)
	if !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("stream incomplete: %q", rest)
	}
	// Ordering, not speed: c0 arrived before the 2 later chunks were even produced.
	if total-first < 200*time.Millisecond {
		t.Fatalf("first chunk at %v, end at %v: chunks were batched", first, total)
	}
}

func TestKeepAliveWhileWaitingForFirstToken(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		time.Sleep(200 * time.Millisecond) // within the 300ms idle timeout, > 50ms keep-alive interval
		stream(1, 0, false)(w, r)
	}
	a := newUpstream(t, slow)
	f := newFixture(t, twoTargets(a.srv.URL, a.srv.URL))
	_, body := f.post(t, "/v1/chat/completions", streamBody)
	if !strings.HasPrefix(body, ": keep-alive\n\n") || !strings.Contains(body, `"c0"`) {
		t.Fatalf("want keep-alive comments before content, got %q", body)
	}
}

func TestClientErrors(t *testing.T) {
	a := newUpstream(t)
	f := newFixture(t, twoTargets(a.srv.URL, a.srv.URL)+"\n")
	tests := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"malformed json", "/v1/chat/completions", `{"model":`, 400, "malformed JSON"},
		{"missing model", "/v1/chat/completions", `{"messages":[]}`, 400, "missing required field: model"},
		{"model wrong type", "/v1/chat/completions", `{"model":3}`, 400, `\"model\"`},
		{"unknown model", "/v1/chat/completions", `{"model":"nope"}`, 404, "model_not_found"},
		{"anthropic shape", "/v1/messages", `{"model":"nope","max_tokens":1,"messages":[]}`, 404, `"type":"error"`},
		{"empty body", "/v1/embeddings", ``, 400, "empty"},
		{"unknown path", "/v2/whatever", `{}`, 404, "no route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.post(t, tc.path, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s; want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Fatal("missing x-request-id")
			}
		})
	}
	if a.calls.Load() != 0 {
		t.Fatal("bad requests must not reach an upstream")
	}
}

func TestBodyLimit(t *testing.T) {
	a := newUpstream(t)
	f := newFixture(t, strings.Replace(twoTargets(a.srv.URL, a.srv.URL), "server: {", "server: {max_body_bytes: 1024, ", 1))
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	resp, body := f.post(t, "/v1/chat/completions", big)
	if resp.StatusCode != 413 || !strings.Contains(body, "1024") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

func TestCircuitOpensAndSkipsTarget(t *testing.T) {
	a := newUpstream(t, status(500))
	b := newUpstream(t)
	yaml := strings.Replace(twoTargets(a.srv.URL, b.srv.URL), "failure_threshold: 100", "failure_threshold: 2, open_for: 1h", 1)
	f := newFixture(t, yaml)
	for range 2 {
		if resp, body := f.post(t, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	}
	before := a.calls.Load()
	if resp, _ := f.post(t, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal("want success from b")
	}
	if a.calls.Load() != before {
		t.Fatal("open circuit must skip target a")
	}
	if got := testutil.ToFloat64(f.metrics.Retries.WithLabelValues("a", "server_error")); got != 2 {
		t.Fatalf("retries metric = %v, want 2", got)
	}
}

func TestRequestIDHonoured(t *testing.T) {
	a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Request-Id") != "abc-123" {
			w.WriteHeader(418)
			return
		}
		ok(w, r)
	})
	f := newFixture(t, twoTargets(a.srv.URL, a.srv.URL))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("X-Request-Id", "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("status %d id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
}

func TestPanicIsRecovered(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(Middleware(log, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(b), resp.Header.Get("X-Request-Id")) {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}

// TestCredentialsNeverReachTranslator: the translator sees the client's
// headers without any credential header (echoTranslator forwards all it
// sees as X-Client-*).
func TestCredentialsNeverReachTranslator(t *testing.T) {
	var seen http.Header
	var mu sync.Mutex
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		ok(w, r)
	})
	f := newFixture(t, twoTargets(up.srv.URL, up.srv.URL))
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	for _, k := range credentialHeaders {
		req.Header.Set(k, "secret-"+k)
	}
	req.Header.Set("X-Custom", "kept")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if seen.Get("X-Client-X-Custom") != "kept" {
		t.Fatalf("the translator did not see the client's headers: %v", seen)
	}
	for k, v := range seen {
		for _, s := range v {
			if strings.Contains(s, "secret-") {
				t.Errorf("credential reached upstream as %s: %q", k, s)
			}
		}
	}
}

// TestNewRequestID: 32 lower-case hex digits, a valid incoming id, new
// every time, in one allocation.
func TestNewRequestID(t *testing.T) {
	a, b := newRequestID(), newRequestID()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || !validRequestID(a) || a == b {
		t.Errorf("ids %q, %q", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { _ = newRequestID() }); n != 1 && !raceEnabled {
		t.Errorf("%.0f allocations per id, want 1", n)
	}
}
