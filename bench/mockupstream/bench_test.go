package mockupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chatBody1K is a ~1 KB chat request, the size of the benchmark scenario.
var chatBody1K = `{"model":"mock-gpt","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"` +
	strings.Repeat("lorem ipsum ", 80) + `"}],"temperature":0.2}`

// discardWriter is the cheapest http.ResponseWriter, so handler benchmarks
// measure the mock alone.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func benchHandler(b *testing.B, opts Options, path string, header map[string]string, body string) {
	s := New(opts)
	defer s.Close()
	rd := strings.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Body = io.NopCloser(rd)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(w.n)/float64(b.N), "resp-bytes/op")
}

// BenchmarkMockChat measures the mock's own cost per request (handler/...)
// and what it serves over loopback HTTP/1.1 with keep-alive (http/...).
func BenchmarkMockChat(b *testing.B) {
	streamBody := strings.Replace(chatBody1K, `"temperature"`, `"stream":true,"stream_options":{"include_usage":true},"temperature"`, 1)
	b.Run("handler/nonstream", func(b *testing.B) {
		benchHandler(b, Options{MaxRecorded: -1}, "/v1/chat/completions", nil, chatBody1K)
	})
	b.Run("handler/nonstream-recorded", func(b *testing.B) {
		benchHandler(b, Options{MaxRecorded: 1000}, "/v1/chat/completions", nil, chatBody1K)
	})
	b.Run("handler/stream-20", func(b *testing.B) {
		benchHandler(b, Options{Words: 20, MaxRecorded: -1}, "/v1/chat/completions", nil, streamBody)
	})
	b.Run("handler/stream-200", func(b *testing.B) {
		benchHandler(b, Options{Words: 200, MaxRecorded: -1}, "/v1/chat/completions", nil, streamBody)
	})
	b.Run("handler/anthropic-stream-20", func(b *testing.B) {
		body := `{"model":"claude-mock","max_tokens":1000,"stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 80) + `"}]}`
		benchHandler(b, Options{Words: 20, MaxRecorded: -1}, "/v1/messages", map[string]string{"anthropic-version": "2023-06-01"}, body)
	})
	b.Run("http/nonstream", func(b *testing.B) {
		benchHTTP(b, chatBody1K)
	})
	b.Run("http/stream-20", func(b *testing.B) {
		benchHTTP(b, streamBody)
	})
}

func benchHTTP(b *testing.B, body string) {
	s := New(Options{Words: 20, MaxRecorded: -1})
	url, closeFn, err := s.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = closeFn() }()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 32<<10)
		for pb.Next() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// FuzzRequest sends arbitrary bodies to every endpoint: the mock must answer
// 200 with valid JSON (or valid SSE events of JSON) or a provider-shaped 4xx,
// never panic.
func FuzzRequest(f *testing.F) {
	for _, tc := range endpointCases() {
		f.Add(uint8(tc.ep), tc.body)
	}
	f.Add(uint8(epEmbeddings), `{"model":"e","input":["a",[1,2]],"encoding_format":"base64"}`)
	f.Add(uint8(epChat), "{\"model\":\"\xff\\u2028<>\",\"messages\":[{}]}")
	s := New(Options{Words: 5, Chunks: 2, MaxRecorded: -1})
	paths := map[endpoint]string{
		epChat: "/v1/chat/completions", epCompletions: "/v1/completions", epEmbeddings: "/v1/embeddings",
		epResponses: "/v1/responses", epMessages: "/v1/messages", epCountTokens: "/v1/messages/count_tokens",
		epGeminiGenerate: "/v1beta/models/g:generateContent", epGeminiStream: "/v1beta/models/g:streamGenerateContent?alt=sse",
		epGeminiCountTokens: "/v1beta/models/g:countTokens",
	}
	f.Fuzz(func(t *testing.T, ep uint8, body string) {
		path, ok := paths[endpoint(ep)]
		if !ok {
			return
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("anthropic-version", "2023-06-01")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		out := w.Body.Bytes()
		switch {
		case w.Code >= 400 && w.Code < 500:
			if !json.Valid(out) {
				t.Fatalf("error body is not JSON: %q", out)
			}
		case w.Code != http.StatusOK:
			t.Fatalf("status %d for %q", w.Code, body)
		case strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream"):
			events, err := parseSSE(out)
			if err != nil || len(events) == 0 {
				t.Fatalf("stream %q: %v", out, err)
			}
			for _, ev := range events {
				if ev.Data != "[DONE]" && !json.Valid([]byte(ev.Data)) {
					t.Fatalf("event data is not JSON: %q", ev.Data)
				}
			}
		default:
			if !json.Valid(out) {
				t.Fatalf("body is not JSON: %q", out)
			}
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n cr\r tab\t", "\x00\x1f<>&", "\u2028\u2029é日本", "\xff\xfe bad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(ours, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: %v", s, ours, err)
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if got != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json gives %q", s, got, want)
		}
		if !bytes.Equal(ours, std) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json %s", s, ours, std)
		}
	})
}
