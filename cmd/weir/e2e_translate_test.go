package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/provider/providertest"
	"github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/schema/openai"
)

// The translation end-to-end tests run every client API × provider API
// pair through the real binary: one weir with one provider of each type,
// each in front of its own mock upstream that speaks that provider's wire
// format and checks what Anthropic and Gemini check (anthropic-version,
// thinking signatures, alt=sse, the credential header).

// The mock's fixed answer shape, so every pair's counts are exact.
const (
	xWords  = 5  // reply words = output tokens of a text answer
	xPrompt = 17 // input tokens of every answer
	xCached = 4  // of which cached
)

// xProviders are the provider types in the config below, each behind the
// model alias "via-<type>" and an upstream model of its own.
var xProviders = []string{"openai", "anthropic", "gemini"}

func translateConfig(urls map[string]string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
retry: {max_attempts: 1, failure_threshold: 100}
providers:
  - {name: oai, type: openai, base_url: "%s/v1", api_key: "${UPSTREAM_KEY}"}
  - {name: claude, type: anthropic, base_url: "%s", api_key: "${UPSTREAM_KEY}"}
  - {name: gem, type: gemini, base_url: "%s", api_key: "${UPSTREAM_KEY}"}
models:
  - {name: via-openai, targets: [{provider: oai, model: mock-gpt}]}
  - {name: via-anthropic, targets: [{provider: claude, model: claude-mock}]}
  - {name: via-gemini, targets: [{provider: gem, model: gemini-mock}]}
`, urls["openai"], urls["anthropic"], urls["gemini"])
}

// xEnv is the shared weir and its mock upstreams (by provider type).
type xEnv struct {
	p     *weirtest.Proc
	mocks map[string]*mockupstream.Server
	seq   atomic.Int64
}

func startTranslate(t *testing.T) *xEnv {
	t.Helper()
	e := &xEnv{mocks: map[string]*mockupstream.Server{}}
	urls := map[string]string{}
	for _, typ := range xProviders {
		e.mocks[typ], urls[typ] = mock(t, mockupstream.Options{Words: xWords, PromptTokens: xPrompt, CachedTokens: xCached, APIKey: upstreamKey})
	}
	e.p = weirtest.Start(t, translateConfig(urls), weirtest.Options{Env: []string{"UPSTREAM_KEY=" + upstreamKey}})
	return e
}

// anthropicVersion is the anthropic-version an Anthropic SDK sends.
const anthropicVersion = "2023-06-01"

// clientPath is the route of a client dialect.
var clientPath = map[string]string{"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}

// send posts body on the client dialect's route with a fresh request id,
// which it returns to find the access log line.
func (e *xEnv) send(t *testing.T, path string, body []byte, hdr ...string) (*http.Response, []byte, string) {
	t.Helper()
	id := fmt.Sprintf("e2e-x-%d", e.seq.Add(1))
	if strings.HasPrefix(path, "/v1/messages") {
		hdr = append([]string{"anthropic-version", anthropicVersion}, hdr...)
	}
	resp, b := post(t, e.p.URL("public")+path, string(body), append(hdr, "X-Request-Id", id)...)
	return resp, []byte(b), id
}

// ok is send for requests that must succeed.
func (e *xEnv) ok(t *testing.T, path string, body []byte, hdr ...string) ([]byte, string) {
	t.Helper()
	resp, b, id := e.send(t, path, body, hdr...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return b, id
}

// accessLine waits for the access log line of request id.
func (e *xEnv) accessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range e.p.AccessLog(0) {
			if l["request_id"] == id {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for request %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// last is the last request a mock received.
func last(t *testing.T, m *mockupstream.Server) mockupstream.Recorded {
	t.Helper()
	rs := m.Requests()
	if len(rs) == 0 {
		t.Fatal("the upstream got no request")
	}
	return rs[len(rs)-1]
}

// clientBody is a request of the client dialect for model; extra fields
// are added (or replace the defaults).
func clientBody(t *testing.T, client, model string, stream bool, extra map[string]any) []byte {
	t.Helper()
	b := map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": "hello"}}}
	if client == "anthropic" {
		b["max_tokens"] = 2048
	}
	if stream {
		b["stream"] = true
		if client == "openai" {
			b["stream_options"] = map[string]any{"include_usage": true}
		}
	}
	for k, v := range extra {
		b[k] = v
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// xUsage is the usage a client sees, in its own terms: OpenAI's prompt
// tokens include the cached ones, Anthropic's input tokens do not.
type xUsage struct{ Input, Output, Cached, Reasoning int64 }

// clientUsage reads the usage of a client answer (body or stream), checking
// a stream's protocol on the way.
func clientUsage(t *testing.T, client string, stream bool, body []byte) xUsage {
	t.Helper()
	if client == "anthropic" {
		msg := &anthropic.MessagesResponse{}
		var err error
		if stream {
			msg, err = providertest.AnthropicStream(body)
		} else {
			err = json.Unmarshal(body, msg)
		}
		if err != nil {
			t.Fatalf("messages answer: %v\n%s", err, body)
		}
		return xUsage{Input: msg.Usage.InputTokens, Output: msg.Usage.OutputTokens, Cached: msg.Usage.CacheReadInputTokens}
	}
	var u *openai.Usage
	if stream {
		m, err := providertest.OpenAIStream(body)
		if err != nil {
			t.Fatalf("chat stream: %v\n%s", err, body)
		}
		u = m.Usage
	} else {
		var c struct {
			Usage *openai.Usage `json:"usage"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("chat answer: %v\n%s", err, body)
		}
		u = c.Usage
	}
	if u == nil {
		t.Fatalf("answer without usage:\n%s", body)
	}
	return xUsage{Input: u.PromptTokens, Output: u.CompletionTokens, Cached: u.CachedTokens(), Reasoning: u.ReasoningTokens()}
}

// wantUsage is what a client of the dialect must see for a text answer
// of the mock, whatever the provider.
func wantUsage(client string) xUsage {
	if client == "anthropic" {
		return xUsage{Input: xPrompt - xCached, Output: xWords, Cached: xCached}
	}
	return xUsage{Input: xPrompt, Output: xWords, Cached: xCached}
}

// checkAccessTokens requires the access log line of id to count the
// mock's tokens (all input, cached included, and all output).
func (e *xEnv) checkAccessTokens(t *testing.T, id string, out int64) {
	t.Helper()
	l := e.accessLine(t, id)
	if l["prompt_tokens"] != float64(xPrompt) || l["completion_tokens"] != float64(out) {
		t.Errorf("access log tokens %v/%v, want %d/%d", l["prompt_tokens"], l["completion_tokens"], xPrompt, out)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// xPair is one client API × provider API pair and what differs per pair.
type xPair struct {
	client, provider string
	// stop and toolStop are the client's stop reasons of a text and a tool answer.
	stop, toolStop string
	// toolID is the tool call id the client sees; "" for Gemini, which has
	// no ids (weir derives "call_…" ids carrying the thought signature).
	toolID string
	// reasoning is the reasoning text of a thinking answer ("" where the
	// provider returns none: the OpenAI mock only counts reasoning tokens).
	reasoning string
	// reasoningTokens is the reasoning count an OpenAI client sees.
	reasoningTokens int64
	// upThinking is what the upstream request carries when the client asks
	// for thinking; upSecond what the second tool turn must carry back.
	upThinking string
	upSecond   []string
	// errType and errMsg: the client error event of an upstream error mid-stream.
	errType, errMsg string
	// unsupported is a request field the provider cannot express and the
	// feature the 400 names; empty for passthrough pairs.
	unsupported map[string]any
	feature     string
	// countPath is the upstream path of count_tokens.
	countPath string
}

func xPairs() []xPair {
	sig := mockupstream.Signature(mockupstream.ThinkingText(mockupstream.DefaultThinkingWords))
	think := mockupstream.ThinkingText(mockupstream.DefaultThinkingWords)
	geminiThinking := `"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}`
	geminiSecond := []string{`"thoughtSignature":"` + sig + `"`, `"functionResponse":{"name":"lookup"`}
	serverTool := map[string]any{"tools": []any{map[string]any{"type": "web_search_20250305", "name": "web_search"}}}
	noParallel := map[string]any{"tools": []any{anthropicTool()}, "tool_choice": map[string]any{"type": "auto", "disable_parallel_tool_use": true}}
	return []xPair{
		{client: "openai", provider: "openai", stop: "stop", toolStop: "tool_calls", toolID: mockupstream.OpenAIToolCallID,
			reasoningTokens: mockupstream.DefaultThinkingWords, upThinking: `"reasoning_effort":"low"`,
			upSecond: []string{`"tool_call_id":"` + mockupstream.OpenAIToolCallID + `"`},
			errType:  openai.ErrAPI, errMsg: "mock upstream stream error"},
		{client: "openai", provider: "anthropic", stop: "stop", toolStop: "tool_calls", toolID: mockupstream.AnthropicToolUseID,
			reasoning: think, upThinking: `"thinking":{"type":"enabled","budget_tokens":1024}`,
			upSecond: []string{`"tool_use_id":"` + mockupstream.AnthropicToolUseID + `"`, `"signature":"` + sig + `"`},
			errType:  openai.ErrAPI, errMsg: "Overloaded",
			unsupported: map[string]any{"response_format": map[string]any{"type": "json_object"}}, feature: "response_format json_object (Anthropic has no JSON mode) is not supported by provider type anthropic"},
		{client: "openai", provider: "gemini", stop: "stop", toolStop: "tool_calls",
			reasoning: think, reasoningTokens: mockupstream.DefaultThinkingWords, upThinking: geminiThinking, upSecond: geminiSecond,
			errType: openai.ErrAPI, errMsg: "mock upstream stream error",
			unsupported: map[string]any{"logprobs": true}, feature: "logprobs is not supported by provider type gemini"},
		{client: "anthropic", provider: "openai", stop: "end_turn", toolStop: "tool_use", toolID: mockupstream.OpenAIToolCallID,
			upThinking: `"reasoning_effort":"low"`, upSecond: []string{`"tool_call_id":"` + mockupstream.OpenAIToolCallID + `"`},
			errType: "api_error", errMsg: "mock upstream stream error",
			unsupported: serverTool, feature: `Anthropic server tool \"web_search_20250305\" is not supported by provider type openai`,
			countPath: "/v1/chat/completions"},
		{client: "anthropic", provider: "anthropic", stop: "end_turn", toolStop: "tool_use", toolID: mockupstream.AnthropicToolUseID,
			reasoning: think, upThinking: `"thinking":{"budget_tokens":1024,"type":"enabled"}`,
			upSecond: []string{`"tool_use_id":"` + mockupstream.AnthropicToolUseID + `"`, `"signature":"` + sig + `"`},
			errType:  "overloaded_error", errMsg: "Overloaded", countPath: "/v1/messages/count_tokens"},
		{client: "anthropic", provider: "gemini", stop: "end_turn", toolStop: "tool_use",
			reasoning: think, upThinking: geminiThinking, upSecond: geminiSecond,
			errType: "api_error", errMsg: "mock upstream stream error",
			unsupported: noParallel, feature: "disable_parallel_tool_use is not supported by provider type gemini",
			countPath: "/v1beta/models/gemini-mock:countTokens"},
	}
}

func anthropicTool() map[string]any {
	return map[string]any{"name": "lookup", "description": "Look something up",
		"input_schema": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}, "required": []any{"query"}}}
}

func chatTool() map[string]any {
	return map[string]any{"type": "function", "function": map[string]any{"name": "lookup", "description": "Look something up",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}, "required": []any{"query"}}}}
}

// TestE2ETranslate runs each pair through one weir: text answers (body and
// stream) with exact content and usage (client body and access log), a
// two-turn tool loop with thinking, an upstream error mid-stream, a 400
// naming what the provider cannot express, and count_tokens.
func TestE2ETranslate(t *testing.T) {
	e := startTranslate(t)
	for _, pc := range xPairs() {
		t.Run(pc.client+"_to_"+pc.provider, func(t *testing.T) { e.runPair(t, pc) })
	}
}

func (e *xEnv) runPair(t *testing.T, pc xPair) {
	model := "via-" + pc.provider
	path := clientPath[pc.client]
	m := e.mocks[pc.provider]
	want := mockupstream.ReplyText(xWords)

	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "text_stream"}[stream], func(t *testing.T) {
			body, id := e.ok(t, path, clientBody(t, pc.client, model, stream, nil))
			turn, err := providertest.ParseTurn(pc.client, stream, body)
			if err != nil {
				t.Fatalf("answer: %v\n%s", err, body)
			}
			if turn.Text != want || turn.Stop != pc.stop || len(turn.Tools) != 0 {
				t.Fatalf("answer text %q stop %q tools %v, want %q %q", turn.Text, turn.Stop, turn.Tools, want, pc.stop)
			}
			if got := clientUsage(t, pc.client, stream, body); got != wantUsage(pc.client) {
				t.Errorf("client usage %+v, want %+v", got, wantUsage(pc.client))
			}
			e.checkAccessTokens(t, id, xWords)
		})
	}

	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "tool_loop_thinking", true: "tool_loop_thinking_stream"}[stream], func(t *testing.T) {
			first := map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": "look it up"}}}
			if pc.client == "openai" {
				first["tools"], first["reasoning_effort"] = []any{chatTool()}, "low"
			} else {
				first["tools"], first["max_tokens"] = []any{anthropicTool()}, 2048
				first["thinking"] = map[string]any{"type": "enabled", "budget_tokens": 1024}
			}
			n := m.Count()
			var ids []string
			send := func(t *testing.T, body []byte) []byte {
				t.Helper()
				b, id := e.ok(t, path, body)
				ids = append(ids, id)
				return b
			}
			t1, t2 := providertest.LoopWith(t, send, pc.client, stream, first)
			if m.Count() != n+2 {
				t.Fatalf("the provider got %d requests, want 2", m.Count()-n)
			}
			call := t1.Tools[0]
			switch {
			case t1.Stop != pc.toolStop || call.Function.Name != "lookup" || !jsonEqual(call.Function.Arguments, mockupstream.ToolArguments):
				t.Errorf("first turn: stop %q call %+v", t1.Stop, call)
			case pc.toolID != "" && call.ID != pc.toolID:
				t.Errorf("tool call id %q, want the provider's %q", call.ID, pc.toolID)
			case pc.toolID == "" && !strings.HasPrefix(call.ID, "call_"):
				t.Errorf("derived tool call id %q", call.ID)
			case t1.Reasoning != pc.reasoning:
				t.Errorf("reasoning %q, want %q", t1.Reasoning, pc.reasoning)
			case t2.Text != want || t2.Stop != pc.stop:
				t.Errorf("second turn: %q stop %q", t2.Text, t2.Stop)
			}
			up := string(last(t, m).Body)
			for _, s := range append([]string{pc.upThinking}, pc.upSecond...) {
				if !strings.Contains(up, s) {
					t.Errorf("second upstream request lacks %s:\n%s", s, up)
				}
			}
			if pc.client == "openai" {
				// The thinking answer's usage reaches the client and the log.
				l := e.accessLine(t, ids[1])
				if l["completion_tokens"] != float64(xWords+mockupstream.DefaultThinkingWords) {
					t.Errorf("second turn completion tokens %v", l["completion_tokens"])
				}
			}
		})
	}

	t.Run("reasoning_tokens", func(t *testing.T) {
		if pc.client != "openai" {
			t.Skip("Anthropic usage has no reasoning count")
		}
		body, _ := e.ok(t, path, clientBody(t, pc.client, model, false, map[string]any{"reasoning_effort": "low"}))
		if got := clientUsage(t, pc.client, false, body); got.Reasoning != pc.reasoningTokens || got.Output != xWords+mockupstream.DefaultThinkingWords {
			t.Errorf("usage %+v, want %d reasoning tokens", got, pc.reasoningTokens)
		}
	})

	t.Run("error_mid_stream", func(t *testing.T) {
		f, err := mockupstream.ParseFault("sse-error:2")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Enqueue(f); err != nil {
			t.Fatal(err)
		}
		body, _ := e.ok(t, path, clientBody(t, pc.client, model, true, nil))
		events := sseEvents(body)
		if len(events) == 0 {
			t.Fatal("empty stream")
		}
		lastEv := events[len(events)-1]
		var typ, msg string
		if pc.client == "anthropic" {
			msgSoFar, err := providertest.AnthropicStream(body)
			if err == nil || msgSoFar == nil || lastEv.name != "error" {
				t.Fatalf("want an error event ending the stream, got %v:\n%s", err, body)
			}
			if got := textOf(msgSoFar); got != "mock reply" {
				t.Errorf("content before the error %q", got)
			}
			var er anthropic.ErrorResponse
			if err := json.Unmarshal([]byte(lastEv.data), &er); err != nil || er.Type != "error" {
				t.Fatalf("error event %q: %v", lastEv.data, err)
			}
			typ, msg = er.Error.Type, er.Error.Message
		} else {
			data := sseData(string(body))
			if got, _ := joinContent(t, data[:len(data)-1]); got != "mock reply" {
				t.Errorf("content before the error %q", got)
			}
			var er openai.ErrorResponse
			if err := json.Unmarshal([]byte(lastEv.data), &er); err != nil || er.Error.Message == "" {
				t.Fatalf("want a final error chunk, got %q: %v", lastEv.data, err)
			}
			typ, msg = er.Error.Type, er.Error.Message
		}
		if bytes.Contains(body, []byte("[DONE]")) || bytes.Contains(body, []byte("message_stop")) {
			t.Error("a cut stream must not end as if complete")
		}
		if typ != pc.errType || !strings.Contains(msg, pc.errMsg) {
			t.Errorf("error type %q message %q, want %q containing %q", typ, msg, pc.errType, pc.errMsg)
		}
	})

	t.Run("unsupported_is_400", func(t *testing.T) {
		if pc.unsupported == nil {
			t.Skip("a passthrough pair forwards every field")
		}
		n := m.Count()
		resp, body, _ := e.send(t, path, clientBody(t, pc.client, model, false, pc.unsupported))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), pc.feature) {
			t.Fatalf("%d %s\nwant 400 naming %s", resp.StatusCode, body, pc.feature)
		}
		checkErrorShape(t, pc.client, body, "invalid_request_error")
		if m.Count() != n {
			t.Fatal("the request reached the provider")
		}
	})

	t.Run("count_tokens", func(t *testing.T) {
		if pc.client != "anthropic" {
			t.Skip("count_tokens is an Anthropic Messages endpoint")
		}
		body := []byte(fmt.Sprintf(`{"model":%q,"system":"be brief","messages":[{"role":"user","content":"count me"}]}`, model))
		b, _ := e.ok(t, "/v1/messages/count_tokens", body)
		if !jsonEqual(string(b), fmt.Sprintf(`{"input_tokens":%d}`, xPrompt)) {
			t.Errorf("count_tokens answered %s", b)
		}
		if r := last(t, m); r.Path != pc.countPath {
			t.Errorf("upstream path %s, want %s", r.Path, pc.countPath)
		}
	})
}

// TestE2ETranslateErrors covers what needs no pair table: OpenAI APIs a
// provider cannot serve, and provider errors in the client's dialect.
func TestE2ETranslateErrors(t *testing.T) {
	e := startTranslate(t)
	t.Run("embeddings_to_anthropic", func(t *testing.T) {
		resp, body, _ := e.send(t, "/v1/embeddings", []byte(`{"model":"via-anthropic","input":"hi"}`))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "the openai.embeddings API is not supported by provider type anthropic") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		checkErrorShape(t, "openai", body, "invalid_request_error")
	})
	for _, typ := range xProviders {
		for _, client := range []string{"openai", "anthropic"} {
			t.Run(client+"_gets_"+typ+"_400_in_its_dialect", func(t *testing.T) {
				f, _ := mockupstream.ParseFault("status:400")
				if err := e.mocks[typ].Enqueue(f); err != nil {
					t.Fatal(err)
				}
				resp, body, _ := e.send(t, clientPath[client], clientBody(t, client, "via-"+typ, false, nil))
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				checkErrorShape(t, client, body, "invalid_request_error")
			})
		}
	}
}

// TestE2ETranslateAuthHeaders checks which client headers reach each
// provider: never the client's credential, always the provider's; the
// anthropic-version and anthropic-beta of Anthropic clients reach Anthropic
// only.
func TestE2ETranslateAuthHeaders(t *testing.T) {
	e := startTranslate(t)
	const clientKey = "client-key-xyz-0123"
	const version, beta = "2024-10-22", "beta-one-2025-01-01,beta-two-2025-02-02"
	tests := []struct {
		client, provider string
		want             map[string]string // header → value ("" = absent)
	}{
		{"anthropic", "anthropic", map[string]string{"X-Api-Key": upstreamKey, "Anthropic-Version": version, "Anthropic-Beta": beta, "Authorization": ""}},
		{"anthropic", "openai", map[string]string{"Authorization": "Bearer " + upstreamKey, "X-Api-Key": "", "Anthropic-Version": "", "Anthropic-Beta": ""}},
		{"anthropic", "gemini", map[string]string{"X-Goog-Api-Key": upstreamKey, "X-Api-Key": "", "Anthropic-Version": "", "Anthropic-Beta": "", "Authorization": ""}},
		// An OpenAI client's anthropic-* headers are not its dialect's: Anthropic gets weir's default version.
		{"openai", "anthropic", map[string]string{"X-Api-Key": upstreamKey, "Anthropic-Version": anthropicVersion, "Anthropic-Beta": "", "Authorization": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.client+"_to_"+tc.provider, func(t *testing.T) {
			m := e.mocks[tc.provider]
			e.ok(t, clientPath[tc.client], clientBody(t, tc.client, "via-"+tc.provider, false, nil),
				"x-api-key", clientKey, "anthropic-version", version, "anthropic-beta", beta, "Authorization", "Bearer "+clientKey)
			r := last(t, m)
			for k, want := range tc.want {
				if got := strings.Join(r.Header.Values(k), ","); got != want {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
			for k, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, clientKey) {
						t.Errorf("the client's key reached the provider in %s", k)
					}
				}
			}
		})
	}
}

// checkErrorShape requires an error body of the client's dialect with the type.
func checkErrorShape(t *testing.T, client string, body []byte, typ string) {
	t.Helper()
	if client == "anthropic" {
		var er anthropic.ErrorResponse
		if err := json.Unmarshal(body, &er); err != nil || er.Type != "error" || er.Error.Type != typ || er.Error.Message == "" {
			t.Errorf("want an Anthropic %s error, got %s", typ, body)
		}
		return
	}
	var er openai.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Error.Type != typ || er.Error.Message == "" {
		t.Errorf("want an OpenAI %s error, got %s", typ, body)
	}
}

type xEvent struct{ name, data string }

// sseEvents splits an SSE body into events (comments skipped).
func sseEvents(body []byte) []xEvent {
	var out []xEvent
	for _, block := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n\n") {
		var ev xEvent
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = v
			}
		}
		if ev.name != "" || ev.data != "" {
			out = append(out, ev)
		}
	}
	return out
}

// textOf joins the text blocks of a message.
func textOf(m *anthropic.MessagesResponse) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == anthropic.BlockText {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}
