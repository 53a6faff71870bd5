package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/quic-go/quic-go/http3"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/config"
)

// TestMain removes the weir binaries weirtest built once the tests are done.
func TestMain(m *testing.M) {
	os.Exit(weirtest.Main(m))
}

// mock starts a mock upstream on loopback.
func mock(t *testing.T, opts mockupstream.Options) (*mockupstream.Server, string) {
	t.Helper()
	s := mockupstream.New(opts)
	url, closeFn, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFn(); s.Close() })
	return s, url
}

func twoProviders(primary, secondary string, extra string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
retry: {max_attempts: 3, backoff: 5ms, max_backoff: 50ms, failure_threshold: 100}
server: {keepalive_interval: 100ms}
providers:
  - {name: primary, type: openai, base_url: "%s/v1", api_key: "${UPSTREAM_KEY:-}", timeouts: {first_byte: 500ms, idle: 500ms}}
  - {name: secondary, type: openai, base_url: "%s/v1", api_key: "${UPSTREAM_KEY:-}", timeouts: {first_byte: 500ms, idle: 500ms}}
models:
  - name: weir-test
    targets:
      - {provider: primary, model: mock-gpt, priority: 0}
      - {provider: secondary, model: mock-gpt-2, priority: 1}
%s`, primary, secondary, extra)
}

const upstreamKey = "sk-upstream-secret-0123456789"

func startTwo(t *testing.T, extra string) (*weirtest.Proc, *mockupstream.Server, *mockupstream.Server) {
	t.Helper()
	a, aURL := mock(t, mockupstream.Options{Words: 12, APIKey: upstreamKey})
	b, bURL := mock(t, mockupstream.Options{Words: 12, APIKey: upstreamKey})
	p := weirtest.Start(t, twoProviders(aURL, bURL, extra), weirtest.Options{Env: []string{"UPSTREAM_KEY=" + upstreamKey}})
	return p, a, b
}

func post(t *testing.T, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// sseData returns the data fields of an SSE body.
func sseData(body string) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// joinContent concatenates the delta contents of OpenAI chat chunks.
func joinContent(t *testing.T, data []string) (string, *struct{ P, C int64 }) {
	t.Helper()
	var b strings.Builder
	var usage *struct{ P, C int64 }
	for _, d := range data {
		if d == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				P int64 `json:"prompt_tokens"`
				C int64 `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %q: %v", d, err)
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
		}
		if c.Usage != nil {
			usage = &struct{ P, C int64 }{c.Usage.P, c.Usage.C}
		}
	}
	return b.String(), usage
}

const chat = `{"model":"weir-test","messages":[{"role":"user","content":"hello"}]}`
const chatStream = `{"model":"weir-test","stream":true,"messages":[{"role":"user","content":"hello"}]}`
const chatStreamUsage = `{"model":"weir-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`

func TestE2EChat(t *testing.T) {
	p, a, b := startTwo(t, "")
	url := p.URL("public") + "/v1/chat/completions"
	want := mockupstream.ReplyText(12)

	t.Run("non-streaming", func(t *testing.T) {
		resp, body := post(t, url, chat)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var v struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Usage struct {
				C int64 `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Choices) != 1 || v.Choices[0].Message.Content != want || v.Usage.C != 12 {
			t.Fatalf("body %s (err %v)", body, err)
		}
	})
	t.Run("streaming hides the usage chunk it asked for", func(t *testing.T) {
		resp, body := post(t, url, chatStream)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		data := sseData(body)
		got, usage := joinContent(t, data)
		if got != want || usage != nil || data[len(data)-1] != "[DONE]" {
			t.Fatalf("content %q usage %v last %q", got, usage, data[len(data)-1])
		}
		// weir asked upstream for usage although the client did not.
		last := a.Requests()[len(a.Requests())-1]
		if !strings.Contains(string(last.Body), `"include_usage":true`) {
			t.Fatalf("upstream request lacks include_usage: %s", last.Body)
		}
	})
	t.Run("streaming shows usage when asked", func(t *testing.T) {
		_, body := post(t, url, chatStreamUsage)
		got, usage := joinContent(t, sseData(body))
		if got != want || usage == nil || usage.C != 12 {
			t.Fatalf("content %q usage %+v", got, usage)
		}
	})
	t.Run("provider credential sent, client key not forwarded", func(t *testing.T) {
		post(t, url, chat, "Authorization", "Bearer client-key-xyz")
		r := a.Requests()[len(a.Requests())-1]
		if got := r.Header.Get("Authorization"); got != "Bearer "+upstreamKey {
			t.Fatalf("upstream got Authorization %q", got)
		}
	})
	if b.Count() != 0 {
		t.Fatalf("secondary got %d requests while primary was healthy", b.Count())
	}
	t.Run("access log", func(t *testing.T) {
		lines := p.AccessLog(4)
		if len(lines) < 4 {
			t.Fatalf("want 4 access log lines, got %d", len(lines))
		}
		l := lines[0]
		for _, k := range []string{"request_id", "route", "model", "provider", "upstream_model", "status", "attempts", "prompt_tokens", "completion_tokens", "ttfb_ms", "duration_ms"} {
			if _, ok := l[k]; !ok {
				t.Errorf("access log lacks %q: %v", k, l)
			}
		}
		if l["provider"] != "primary" || l["upstream_model"] != "mock-gpt" || l["completion_tokens"].(float64) != 12 {
			t.Errorf("access log %v", l)
		}
	})
	t.Run("secrets stay secret", func(t *testing.T) {
		resp, err := http.Get(p.AdminURL() + "/config")
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for name, text := range map[string]string{"/config": string(cfg), "metrics": p.Metrics(), "log": p.Stderr(), "access log": p.Stdout()} {
			if strings.Contains(text, upstreamKey) || strings.Contains(text, "client-key-xyz") {
				t.Errorf("%s leaks a key", name)
			}
		}
		if !strings.Contains(string(cfg), "[redacted]") {
			t.Errorf("/config does not show the redacted key: %s", cfg)
		}
	})
}

func TestE2EOtherEndpoints(t *testing.T) {
	p, _, _ := startTwo(t, "")
	base := p.URL("public")
	tests := []struct {
		path, body, want string
	}{
		{"/v1/completions", `{"model":"weir-test","prompt":"hi"}`, `"text"`},
		{"/v1/embeddings", `{"model":"weir-test","input":"hi"}`, `"embedding"`},
		{"/v1/responses", `{"model":"weir-test","input":"hi"}`, `"output"`},
		{"/v1/responses", `{"model":"weir-test","input":"hi","stream":true}`, `response.completed`},
		{"/v1/completions", `{"model":"weir-test","prompt":"hi","stream":true}`, `[DONE]`},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.want, func(t *testing.T) {
			resp, body := post(t, base+tc.path, tc.body)
			if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"weir-test"`) {
		t.Fatalf("models: %s", b)
	}
}

func TestE2EFailover(t *testing.T) {
	tests := []struct {
		name       string
		fault      string
		body       string
		wantStatus int
		wantB      int // requests the secondary must see
		check      func(t *testing.T, body string)
	}{
		{name: "500 fails over", fault: "status:500,times=3", body: chat, wantStatus: 200, wantB: 1},
		{name: "429 with retry-after moves on", fault: "status:429,retry-after=1", body: chat, wantStatus: 200, wantB: 1},
		{name: "reset before answer", fault: "reset", body: chat, wantStatus: 200, wantB: 1},
		{name: "slow first byte", fault: "slow-first-byte:3s", body: chat, wantStatus: 200, wantB: 1},
		{name: "reset before stream content", fault: "reset-after:0", body: chatStream, wantStatus: 200, wantB: 1, check: func(t *testing.T, body string) {
			got, _ := joinContent(t, sseData(body))
			if got != mockupstream.ReplyText(12) {
				t.Fatalf("content %q", got)
			}
		}},
		{name: "reset mid-stream ends with an error event", fault: "reset-after:3", body: chatStream, wantStatus: 200, wantB: 0, check: func(t *testing.T, body string) {
			data := sseData(body)
			if data[len(data)-1] == "[DONE]" || !strings.Contains(data[len(data)-1], `"error"`) {
				t.Fatalf("want a final error event and no [DONE], got %q", data[len(data)-1])
			}
			if got, _ := joinContent(t, data[:len(data)-1]); got == "" {
				t.Fatal("content before the cut was lost")
			}
		}},
		{name: "sse error mid-stream", fault: "sse-error:2", body: chatStream, wantStatus: 200, wantB: 0, check: func(t *testing.T, body string) {
			if !strings.Contains(body, `"error"`) || strings.Contains(body, "[DONE]") {
				t.Fatalf("body %q", body)
			}
		}},
		{name: "400 is not retried", fault: "status:400", body: chat, wantStatus: 400, wantB: 0},
		{name: "401 marks the credential and moves on", fault: "status:401", body: chat, wantStatus: 200, wantB: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, a, b := startTwo(t, "")
			f, err := mockupstream.ParseFault(tc.fault)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Enqueue(f); err != nil {
				t.Fatal(err)
			}
			resp, body := post(t, p.URL("public")+"/v1/chat/completions", tc.body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if b.Count() != tc.wantB {
				t.Fatalf("secondary saw %d requests, want %d", b.Count(), tc.wantB)
			}
			if tc.wantB > 0 {
				if r := b.Requests()[0]; !strings.Contains(string(r.Body), `"mock-gpt-2"`) {
					t.Fatalf("secondary got model %s", r.Body)
				}
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func TestE2EAllAttemptsFail(t *testing.T) {
	p, a, b := startTwo(t, "")
	f, _ := mockupstream.ParseFault("status:502")
	_ = a.SetDefault(&f)
	_ = b.SetDefault(&f)
	resp, body := post(t, p.URL("public")+"/v1/chat/completions", chat)
	if resp.StatusCode != 502 || !strings.Contains(body, `"error"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if a.Count()+b.Count() != 3 {
		t.Fatalf("want max_attempts=3 upstream requests, got %d", a.Count()+b.Count())
	}
	// Anthropic clients get their own error shape.
	resp, body = post(t, p.URL("public")+"/v1/messages", `{"model":"nope","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 404 || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, `"not_found_error"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(p.Metrics(), `weir_retries_total{provider="primary",reason="server_error"}`) {
		t.Fatal("retries not counted")
	}
}

func TestE2EErrors(t *testing.T) {
	p, _, _ := startTwo(t, "")
	// The body limit comes from the config; a 20 MiB body is over the 16 MiB default.
	big := `{"model":"weir-test","messages":[{"role":"user","content":"` + strings.Repeat("x", 17<<20) + `"}]}`
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"malformed", `{"model": "weir-test",`, 400, "malformed JSON"},
		{"missing model", `{"messages":[]}`, 400, `"param":"model"`},
		{"unknown model", `{"model":"gpt-17","messages":[]}`, 404, "model_not_found"},
		{"too large", big, 413, "exceeds the limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, p.URL("public")+"/v1/chat/completions", tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestE2EMetricsLint runs promlint over everything the binary exposes.
func TestE2EMetricsLint(t *testing.T) {
	p, _, _ := startTwo(t, "")
	post(t, p.URL("public")+"/v1/chat/completions", chatStream)
	text := p.Metrics()
	for _, name := range []string{"weir_requests_total", "gen_ai_server_request_duration_seconds", "gen_ai_client_token_usage",
		"gen_ai_server_time_to_first_token_seconds", "gen_ai_server_time_per_output_token_seconds", "weir_gateway_overhead_seconds", "weir_config_last_reload_success 1",
		`weir_upstream_healthy{model="mock-gpt",provider="primary"} 1`, `weir_upstream_healthy{model="mock-gpt-2",provider="secondary"} 1`} {
		if !strings.Contains(text, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
}

// TestE2EReload swaps configs under load: no request fails, an invalid file
// keeps the old config serving, and the metric says so.
func TestE2EReload(t *testing.T) {
	p, a, _ := startTwo(t, "")
	url := p.URL("public") + "/v1/chat/completions"
	var failed, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The load runs until stop, bounded by time rather than by a count: a
	// fast enough gateway would finish a fixed number of requests before
	// the last reload, and then nothing would reach the new config.
	deadline := time.Now().Add(30 * time.Second)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := chat
				if (w+i)%2 == 0 {
					body = chatStream
				}
				resp, err := http.Post(url, "application/json", strings.NewReader(body))
				total.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (body == chatStream && !strings.Contains(string(b), "[DONE]")) {
					failed.Add(1)
				}
			}
		}(w)
	}
	orig, err := os.ReadFile(p.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	// Alternate the primary's upstream model between two names, reloading
	// by SIGHUP and by file change.
	for i := 0; i < 10; i++ {
		next := strings.Replace(string(orig), "model: mock-gpt,", fmt.Sprintf("model: mock-gpt-v%d,", i), 1)
		p.WriteConfig(next)
		if i%2 == 0 {
			p.Signal(syscall.SIGHUP)
		}
		time.Sleep(150 * time.Millisecond)
	}
	waitFor(t, func() bool {
		rs := a.Requests()
		return len(rs) > 0 && strings.Contains(string(rs[len(rs)-1].Body), `"mock-gpt-v9"`)
	})
	p.WriteConfig("version: 1\nproviders: [{name: x, type: nope}]\n")
	p.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(p.Metrics(), "weir_config_last_reload_success 0") })
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || total.Load() < 20 {
		t.Fatalf("%d of %d requests failed across reloads", failed.Load(), total.Load())
	}
	// The old config still serves after the bad reload.
	if resp, body := post(t, url, chat); resp.StatusCode != 200 {
		t.Fatalf("after bad reload: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(p.Stderr(), "providers[0].type") {
		t.Fatal("the failed reload's reason is not logged with its path")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EDrainOnSIGTERM checks an open stream finishes after SIGTERM.
func TestE2EDrainOnSIGTERM(t *testing.T) {
	_, aURL := mock(t, mockupstream.Options{Words: 10, ChunkDelay: 100 * time.Millisecond})
	p := weirtest.Start(t, twoProviders(aURL, aURL, ""))
	req, _ := http.NewRequest(http.MethodPost, p.URL("public")+"/v1/chat/completions", strings.NewReader(chatStream))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if _, err := rd.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGTERM)
	t0 := time.Now()
	rest, err := io.ReadAll(rd)
	if err != nil || !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("stream did not finish after SIGTERM: %v %q", err, rest)
	}
	// The stream was still producing (10 chunks, 100ms apart) when SIGTERM came.
	if time.Since(t0) < 300*time.Millisecond {
		t.Fatalf("stream ended %v after SIGTERM: it was not in flight", time.Since(t0))
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("weir exit: %v", err)
	}
}

// TestE2EDefaultConfig is `make run`: no flag, the embedded config, the
// offline provider, a streamed answer without any key or network.
func TestE2EDefaultConfig(t *testing.T) {
	cfg, err := config.Load(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	addr := cfg.Listeners[0].Address
	if ln, err := net.Listen("tcp", addr); err != nil {
		t.Fatalf("the default listener %s is busy: %v", addr, err)
	} else {
		ln.Close()
	}
	p := weirtest.Start(t, "", weirtest.Options{Args: []string{}})
	resp, body := post(t, "http://127.0.0.1:8080/v1/chat/completions",
		`{"model":"weir-test","stream":true,"messages":[{"role":"user","content":"hello weir"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	data := sseData(body)
	got, _ := joinContent(t, data)
	if len(data) < 3 || data[len(data)-1] != "[DONE]" || !strings.Contains(got, "hello weir") {
		t.Fatalf("stream %q", body)
	}
	// Any model name works on the default config.
	if resp, body := post(t, "http://127.0.0.1:8080/v1/chat/completions", `{"model":"anything","messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	_ = p
}

// TestE2ETLSAndHTTP3 serves one self-signed TLS listener over HTTP/2,
// HTTP/1.1 and HTTP/3 (quic-go's real client), with Alt-Svc advertising h3.
func TestE2ETLSAndHTTP3(t *testing.T) {
	_, aURL := mock(t, mockupstream.Options{Words: 5})
	cfg := twoProviders(aURL, aURL, "") + `
`
	cfg = strings.Replace(cfg, `listeners: [{name: public, address: "127.0.0.1:0"}]`,
		`listeners: [{name: public, address: "127.0.0.1:0"}, {name: secure, address: "127.0.0.1:0", tls: {self_signed: true}, http3: true}]`, 1)
	p := weirtest.Start(t, cfg)
	addr := p.Listeners["secure"]
	tlsConf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed test certificate
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}}
	resp, err := h2.Post("https://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(chat))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Alt-Svc"), "h3=") {
		t.Fatalf("proto %s status %d alt-svc %q", resp.Proto, resp.StatusCode, resp.Header.Get("Alt-Svc"))
	}
	// HTTP/1.1 over TLS (ALPN http/1.1) is weir's own server, not the
	// HTTP/2 hand-off: a stream arrives whole and Alt-Svc is set there too.
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}} //nolint:gosec // self-signed test certificate
	resp, err = h1.Post("https://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(chatStream))
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" || resp.StatusCode != 200 ||
		!strings.Contains(string(b1), "[DONE]") || !strings.Contains(resp.Header.Get("Alt-Svc"), "h3=") {
		t.Fatalf("h1 over TLS: proto %s status %d alt-svc %q body %q", resp.Proto, resp.StatusCode, resp.Header.Get("Alt-Svc"), b1)
	}
	h3 := &http.Client{Transport: &http3.Transport{TLSClientConfig: tlsConf}}
	defer h3.Transport.(*http3.Transport).Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/v1/chat/completions", strings.NewReader(chatStream))
	req.Header.Set("Content-Type", "application/json")
	resp, err = h3.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 || resp.StatusCode != 200 || !strings.Contains(string(b), "[DONE]") {
		t.Fatalf("h3: proto %s status %d body %q", resp.Proto, resp.StatusCode, b)
	}
	text := p.Metrics()
	if !strings.Contains(text, `protocol="h3"`) {
		t.Fatal("h3 requests are not labelled in metrics")
	}
	if !strings.Contains(text, `weir_quic_workers{listener="secure"`) {
		t.Fatal("QUIC worker sockets are not exported")
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
}

// TestE2EAzureAndH2C covers an Azure OpenAI-style provider (api-key header,
// api-version query, extra headers) and a client speaking h2c (HTTP/2
// without TLS, prior knowledge) on the plain listener.
func TestE2EAzureAndH2C(t *testing.T) {
	m, url := mock(t, mockupstream.Options{Words: 3, APIKey: "azure-secret"})
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
providers:
  - name: azure
    type: openai
    base_url: "%s/v1"
    api_key: "azure-secret"
    auth_header: api-key
    api_version: "2024-10-21"
    headers: {x-team: platform}
models:
  - {name: gpt-4o, targets: [{provider: azure, model: mock-gpt}]}
`, url)
	p := weirtest.Start(t, cfg)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: tr}
	resp, err := client.Post(p.URL("public")+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("%s %d %s", resp.Proto, resp.StatusCode, body)
	}
	r := m.Requests()[0]
	if r.Header.Get("Api-Key") != "azure-secret" || r.Header.Get("Authorization") != "" ||
		r.Query != "api-version=2024-10-21" || r.Header.Get("X-Team") != "platform" {
		t.Fatalf("upstream request: headers %v query %q", r.Header, r.Query)
	}
	if !strings.Contains(p.Metrics(), `protocol="h2"`) {
		t.Fatal("h2c request not labelled h2")
	}
}

// TestE2EPprofOptIn: /debug/pprof/ is served on the admin listener only
// with WEIR_PPROF=1 (or debug logging), never by default.
func TestE2EPprofOptIn(t *testing.T) {
	_, url := mock(t, mockupstream.Options{})
	for _, tc := range []struct {
		env  []string
		want int
	}{{nil, http.StatusNotFound}, {[]string{"WEIR_PPROF=1"}, http.StatusOK}} {
		p := weirtest.Start(t, twoProviders(url, url, ""), weirtest.Options{Env: tc.env})
		resp, err := http.Get(p.AdminURL() + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("env %v: /debug/pprof/ answered %d, want %d", tc.env, resp.StatusCode, tc.want)
		}
		if r, _ := http.Get(p.URL("public") + "/debug/pprof/"); r != nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				t.Fatal("pprof on a client listener")
			}
		}
	}
}
