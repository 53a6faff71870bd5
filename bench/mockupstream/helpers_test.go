package mockupstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	Event string
	Data  string
}

// parseSSE is a small, strict-enough SSE parser for tests (LF or CRLF line
// ends, multi-line data, comments). It reports a stream that ends inside an
// event, since the mock never sends one except on purpose.
func parseSSE(body []byte) ([]sseEvent, error) {
	var out []sseEvent
	var cur sseEvent
	var data []string
	open := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if open {
				cur.Data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data, open = sseEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		open = true
		switch field {
		case "event":
			cur.Event = value
		case "data":
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if open {
		return out, errors.New("stream ended inside an event")
	}
	return out, nil
}

// newMock starts s on an httptest server and closes both at cleanup.
func newMock(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts.URL
}

// call sends one request and reads the whole answer. A read error after the
// headers is returned with the body read so far.
func call(t testing.TB, client *http.Client, method, url string, header map[string]string, body string) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// mustJSON decodes b into a generic value, failing the test on invalid JSON.
func mustJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return m
}

// result is what a client makes of an answer, whatever its dialect.
type result struct {
	text, model, finish    string
	prompt, completion     int
	total, cached, reason  int
	toolName, toolArgs, id string
	thinking, signature    string
	contentChunks          int
	done                   bool // the stream ended with its terminator event
}

// get walks a decoded JSON value: get(m, "choices", 0, "message", "content").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// decodeAnswer turns a response body of endpoint ep into a result.
func decodeAnswer(t testing.TB, ep endpoint, stream bool, body []byte) result {
	t.Helper()
	var r result
	if !stream {
		m := mustJSON(t, body)
		switch ep {
		case epChat:
			r.model, r.finish = str(m["model"]), str(get(m, "choices", 0, "finish_reason"))
			r.text = str(get(m, "choices", 0, "message", "content"))
			r.toolName = str(get(m, "choices", 0, "message", "tool_calls", 0, "function", "name"))
			r.toolArgs = str(get(m, "choices", 0, "message", "tool_calls", 0, "function", "arguments"))
			r.id = str(get(m, "choices", 0, "message", "tool_calls", 0, "id"))
			openAIUsageInto(&r, m["usage"])
		case epCompletions:
			r.model, r.finish = str(m["model"]), str(get(m, "choices", 0, "finish_reason"))
			r.text = str(get(m, "choices", 0, "text"))
			openAIUsageInto(&r, m["usage"])
		case epResponses:
			r.model, r.finish = str(m["model"]), str(m["status"])
			r.text = str(get(m, "output", 0, "content", 0, "text"))
			responsesUsageInto(&r, m["usage"])
		case epMessages:
			r.model, r.finish = str(m["model"]), str(m["stop_reason"])
			for _, blk := range m["content"].([]any) {
				switch str(get(blk, "type")) {
				case "text":
					r.text += str(get(blk, "text"))
				case "thinking":
					r.thinking, r.signature = str(get(blk, "thinking")), str(get(blk, "signature"))
				case "tool_use":
					r.toolName, r.id = str(get(blk, "name")), str(get(blk, "id"))
					args, _ := json.Marshal(get(blk, "input"))
					r.toolArgs = string(args)
				}
			}
			anthropicUsageInto(&r, m["usage"])
		case epGeminiGenerate, epGeminiStream:
			geminiInto(t, &r, m)
		}
		return r
	}
	events, err := parseSSE(body)
	if err != nil {
		t.Fatalf("parse SSE: %v\n%s", err, body)
	}
	for _, ev := range events {
		if ev.Data == "[DONE]" {
			r.done = true
			continue
		}
		m := mustJSON(t, []byte(ev.Data))
		switch ep {
		case epChat:
			r.model = str(m["model"])
			if c := get(m, "choices", 0, "delta", "content"); str(c) != "" {
				r.text += str(c)
				r.contentChunks++
			}
			if tc := get(m, "choices", 0, "delta", "tool_calls", 0); tc != nil {
				r.contentChunks++
				if n := str(get(tc, "function", "name")); n != "" {
					r.toolName, r.id = n, str(get(tc, "id"))
				}
				r.toolArgs += str(get(tc, "function", "arguments"))
			}
			if f := str(get(m, "choices", 0, "finish_reason")); f != "" {
				r.finish = f
			}
			if u := m["usage"]; u != nil {
				openAIUsageInto(&r, u)
			}
		case epCompletions:
			r.model = str(m["model"])
			if c := str(get(m, "choices", 0, "text")); c != "" {
				r.text += c
				r.contentChunks++
			}
			if f := str(get(m, "choices", 0, "finish_reason")); f != "" {
				r.finish = f
			}
			if u := m["usage"]; u != nil {
				openAIUsageInto(&r, u)
			}
		case epResponses:
			if str(m["type"]) != ev.Event {
				t.Fatalf("event %q carries type %q", ev.Event, m["type"])
			}
			switch ev.Event {
			case "response.output_text.delta":
				r.text += str(m["delta"])
				r.contentChunks++
			case "response.completed", "response.incomplete":
				r.done = true
				r.model, r.finish = str(get(m, "response", "model")), str(get(m, "response", "status"))
				responsesUsageInto(&r, get(m, "response", "usage"))
			}
		case epMessages:
			if str(m["type"]) != ev.Event {
				t.Fatalf("event %q carries type %q", ev.Event, m["type"])
			}
			switch ev.Event {
			case "message_start":
				r.model = str(get(m, "message", "model"))
				anthropicUsageInto(&r, get(m, "message", "usage"))
			case "content_block_start":
				if str(get(m, "content_block", "type")) == "tool_use" {
					r.toolName, r.id = str(get(m, "content_block", "name")), str(get(m, "content_block", "id"))
				}
			case "content_block_delta":
				d := m["delta"]
				switch str(get(d, "type")) {
				case "text_delta":
					r.text += str(get(d, "text"))
					r.contentChunks++
				case "thinking_delta":
					r.thinking += str(get(d, "thinking"))
					r.contentChunks++
				case "signature_delta":
					r.signature = str(get(d, "signature"))
				case "input_json_delta":
					r.toolArgs += str(get(d, "partial_json"))
					r.contentChunks++
				}
			case "message_delta":
				r.finish = str(get(m, "delta", "stop_reason"))
				r.completion = num(get(m, "usage", "output_tokens"))
			case "message_stop":
				r.done = true
			}
		case epGeminiGenerate, epGeminiStream:
			r.contentChunks++
			geminiInto(t, &r, m)
		}
	}
	return r
}

func openAIUsageInto(r *result, u any) {
	r.prompt, r.completion, r.total = num(get(u, "prompt_tokens")), num(get(u, "completion_tokens")), num(get(u, "total_tokens"))
	r.cached = num(get(u, "prompt_tokens_details", "cached_tokens"))
	r.reason = num(get(u, "completion_tokens_details", "reasoning_tokens"))
}

func responsesUsageInto(r *result, u any) {
	r.prompt, r.completion, r.total = num(get(u, "input_tokens")), num(get(u, "output_tokens")), num(get(u, "total_tokens"))
	r.cached = num(get(u, "input_tokens_details", "cached_tokens"))
	r.reason = num(get(u, "output_tokens_details", "reasoning_tokens"))
}

func anthropicUsageInto(r *result, u any) {
	r.cached = num(get(u, "cache_read_input_tokens"))
	r.prompt = num(get(u, "input_tokens")) + r.cached
	r.completion = num(get(u, "output_tokens"))
}

// geminiInto merges one GenerateContentResponse (whole or a stream chunk).
func geminiInto(t testing.TB, r *result, m map[string]any) {
	t.Helper()
	if m["error"] != nil {
		t.Fatalf("gemini error in answer: %v", m)
	}
	r.model = str(m["modelVersion"])
	parts, _ := get(m, "candidates", 0, "content", "parts").([]any)
	for _, p := range parts {
		switch {
		case get(p, "thought") == true:
			r.thinking += str(get(p, "text"))
		case get(p, "functionCall") != nil:
			r.toolName = str(get(p, "functionCall", "name"))
			args, _ := json.Marshal(get(p, "functionCall", "args"))
			r.toolArgs = string(args)
			r.signature = str(get(p, "thoughtSignature"))
		default:
			r.text += str(get(p, "text"))
		}
	}
	if f := str(get(m, "candidates", 0, "finishReason")); f != "" {
		r.finish = f
		r.done = true
	}
	if u := m["usageMetadata"]; u != nil {
		r.prompt, r.total = num(get(u, "promptTokenCount")), num(get(u, "totalTokenCount"))
		r.completion = num(get(u, "candidatesTokenCount")) + num(get(u, "thoughtsTokenCount"))
		r.cached, r.reason = num(get(u, "cachedContentTokenCount")), num(get(u, "thoughtsTokenCount"))
	}
}
