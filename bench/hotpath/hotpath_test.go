package hotpath

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/metrics"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/openai"
	"github.com/weir-gateway/weir/userspace/proxy"
	"github.com/weir-gateway/weir/userspace/ratelimit"
	"github.com/weir-gateway/weir/userspace/snapshot"
)

// memUpstream answers every request in memory the way the benchmark mock
// does: a chat completion of 50 words, or a stream of 20 chunks.
type memUpstream struct{ chat, stream []byte }

func newMemUpstream() *memUpstream {
	words := strings.TrimSpace(strings.Repeat("word ", 50))
	chat := fmt.Sprintf(`{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"mock-gpt","choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":256,"completion_tokens":50,"total_tokens":306}}`, words)
	var s bytes.Buffer
	s.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}` + "\n\n")
	for range 20 {
		s.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}],"usage":null}` + "\n\n")
	}
	s.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n")
	s.WriteString(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[],"usage":{"prompt_tokens":256,"completion_tokens":20,"total_tokens":276}}` + "\n\n")
	s.WriteString("data: [DONE]\n\n")
	return &memUpstream{chat: []byte(chat), stream: s.Bytes()}
}

func (m *memUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	out, ct := m.chat, "application/json"
	if bytes.Contains(body, []byte(`"stream":true`)) {
		out, ct = m.stream, "text/event-stream"
	}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {ct}, "Content-Length": {strconv.Itoa(len(out))}},
		ContentLength: int64(len(out)), Body: io.NopCloser(bytes.NewReader(out)), Request: r}, nil
}

// requestBody is the end-to-end benchmark's ~1 KiB chat request.
func requestBody(stream bool) []byte {
	opts := ""
	if stream {
		opts = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	head := `{"model":"mock-gpt","max_tokens":50,"messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"`
	tail := `"}]` + opts + `}`
	return []byte(head + strings.Repeat("lorem ipsum ", 100)[:1024-len(head)-len(tail)] + tail)
}

// pipeline is proxy.Handler wired as weir wires it (without tenants) over
// the in-memory upstream.
func pipeline(tb testing.TB) (http.Handler, *memUpstream) {
	up := newMemUpstream()
	return newPipeline(tb, pipelineOptions{transport: up}), up
}

// pipelineOptions vary newPipeline.
type pipelineOptions struct {
	// baseURL is the provider's; the default names no real host.
	baseURL string
	// transport answers upstream requests; nil: weir's own pool for the
	// base URL (h1client for http://).
	transport http.RoundTripper
	// limits admits every request through a local rate limiter with
	// request and token limits (never reached), as weir-full does, so the
	// response carries x-ratelimit-* headers.
	limits bool
}

// newPipeline is proxy.Handler wired as weir wires it.
func newPipeline(tb testing.TB, o pipelineOptions) http.Handler {
	if o.baseURL == "" {
		o.baseURL = "http://mock.invalid/v1"
	}
	cfg, err := config.Load([]byte(`version: 1
listeners: [{name: bench, address: "127.0.0.1:0"}]
providers:
  - {name: mock, type: openai, base_url: "` + o.baseURL + `", api_key: "sk-upstream"}
models:
  - name: mock-gpt
    targets: [{provider: mock, model: mock-gpt}]
dataplane: {mode: off}
`))
	if err != nil {
		tb.Fatal(err)
	}
	kinds := map[string]snapshot.Kind{"openai": {New: openai.New, Transport: o.transport}}
	snap, err := snapshot.Compile(cfg, snapshot.Deps{Kinds: kinds, Transports: snapshot.NewTransports()}, 1)
	if err != nil {
		tb.Fatal(err)
	}
	store := &snapshot.Store{}
	store.Swap(snap)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := &proxy.Handler{Store: store, Health: proxy.NewHealth(), Metrics: metrics.New(prometheus.NewRegistry()), Log: log, Access: log}
	if o.limits {
		l := ratelimit.NewLocal()
		tb.Cleanup(func() { _ = l.Close() })
		h.Admission = limitAdmission{l}
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	return proxy.Middleware(log, mux)
}

// limitAdmission admits every request as the tenant "bench" through a
// rate limiter, the part of weir's admission that stays with a request to
// its end (the key check is done and gone before the upstream is asked).
type limitAdmission struct{ l ratelimit.Limiter }

func (a limitAdmission) Admit(ctx context.Context, _ *snapshot.Snapshot, _ *http.Request, _ *provider.Request) (proxy.Ticket, *proxy.APIError) {
	res, d, err := a.l.Reserve(ctx, ratelimit.Request{Tenant: "bench", Tokens: 1500,
		Limits: ratelimit.Limits{RequestsPerMinute: 1e9, TokensPerMinute: 1e12}})
	if err != nil || !d.Allowed {
		return nil, &proxy.APIError{Status: http.StatusTooManyRequests, Message: fmt.Sprintf("bench limiter: %v %v", err, d.Message())}
	}
	return &limitTicket{d: d, res: res}, nil
}

func (a limitAdmission) Models(*snapshot.Snapshot, *http.Request) ([]string, *proxy.APIError) {
	return nil, nil
}

type limitTicket struct {
	d   ratelimit.Decision
	res ratelimit.Reservation
}

func (t *limitTicket) Tenant() string             { return "bench" }
func (t *limitTicket) Header(h http.Header)       { t.d.SetHeaders(h) }
func (t *limitTicket) Settle(used provider.Usage) { t.res.Settle(context.Background(), used.Total()) }

// serverContext gives every request a context of its own that ends with
// the request, as net/http's server does.
func serverContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func serve(h http.Handler, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestPipeline checks what BenchmarkPipeline measures: the upstream's answer
// relayed unchanged, and the stream relayed chunk by chunk with weir's own
// usage chunk hidden only when the client did not ask for it.
func TestPipeline(t *testing.T) {
	h, up := pipeline(t)
	if len(requestBody(false)) != 1024 || len(requestBody(true)) != 1024 {
		t.Fatalf("request bodies are %d and %d bytes, want 1024", len(requestBody(false)), len(requestBody(true)))
	}
	w := serve(h, requestBody(false))
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), up.chat) {
		t.Fatalf("chat: %d %s", w.Code, w.Body)
	}
	w = serve(h, requestBody(true))
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), up.stream) {
		t.Fatalf("stream: %d\n%s\nwant\n%s", w.Code, w.Body, up.stream)
	}
	limited := newPipeline(t, pipelineOptions{transport: up, limits: true})
	for _, stream := range []bool{false, true} {
		w := serve(limited, requestBody(stream))
		if w.Code != http.StatusOK {
			t.Fatalf("limits, stream %v: %d %s", stream, w.Code, w.Body)
		}
		h := w.Result().Header
		if got := h.Get("X-Ratelimit-Limit-Requests"); got != "1000000000" {
			t.Errorf("limits, stream %v: X-Ratelimit-Limit-Requests = %q, want 1000000000", stream, got)
		}
		if got := h.Get("X-Ratelimit-Limit-Tokens"); got != "1000000000000" {
			t.Errorf("limits, stream %v: X-Ratelimit-Limit-Tokens = %q, want 1000000000000", stream, got)
		}
	}
}

// BenchmarkPipeline is one client request through proxy.Handler (the
// middleware, envelope parse, route, OpenAI translator, relay, metrics and
// a JSON access log) against the in-memory upstream: weir's own cost per
// request without sockets. The -full variants run as weir-full does: a
// local rate limiter and its x-ratelimit-* headers, and a request context
// that, like an HTTP server's, can be cancelled (what weir derives from it
// costs then).
func BenchmarkPipeline(b *testing.B) {
	h, up := pipeline(b)
	full := serverContext(newPipeline(b, pipelineOptions{transport: up, limits: true}))
	for _, c := range []struct {
		name   string
		stream bool
		h      http.Handler
	}{{"chat", false, h}, {"stream20", true, h}, {"chat-full", false, full}, {"stream20-full", true, full}} {
		h, body := c.h, requestBody(c.stream)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if w := serve(h, body); w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkRoute resolves a model among 50 routes (exact names and globs).
func BenchmarkRoute(b *testing.B) {
	var y strings.Builder
	y.WriteString("version: 1\nlisteners: [{name: l, address: \"127.0.0.1:0\"}]\nproviders: [{name: p, type: openai, base_url: \"http://p.invalid\"}]\nmodels:\n")
	for i := range 49 {
		fmt.Fprintf(&y, "  - {name: model-%d, targets: [{provider: p, model: m%d}, {provider: p, model: n%d, priority: 1}]}\n", i, i, i)
	}
	y.WriteString("  - {name: \"team-*\", targets: [{provider: p, weight: 3}, {provider: p, model: x, weight: 1}]}\n")
	y.WriteString("dataplane: {mode: off}\n")
	cfg, err := config.Load([]byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	snap, err := snapshot.Compile(cfg, snapshot.Deps{Kinds: map[string]snapshot.Kind{"openai": {New: openai.New}}, Transports: snapshot.NewTransports()}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, model := range []string{"model-0", "model-48", "team-x"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := snap.Routes.Resolve(model, nil, nil); !ok {
					b.Fatal("no route")
				}
			}
		})
	}
}

// BenchmarkRequestMetrics is the metric work of one finished request: its
// series looked up (metrics.Request), the counter, duration, overhead and
// two token-usage observations.
func BenchmarkRequestMetrics(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		s := m.Request(metrics.RequestLabels{API: "openai.chat_completions", Operation: "chat", Route: "mock-gpt", Provider: "mock",
			Code: "200", Protocol: "http/1.1", Tenant: "bench"})
		s.Requests.Inc()
		s.Duration.Observe(0.0123)
		s.Overhead.Observe(0.00005)
		s.InputTokens().Observe(256)
		s.OutputTokens().Observe(50)
	}
}
