package gemini

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/providertest"
)

// TestMockToolLoop runs tool loops of both client dialects against the mock
// in its Gemini role (alt=sse streams, thought signatures on function calls).
func TestMockToolLoop(t *testing.T) {
	m := mockupstream.New(mockupstream.Options{APIKey: "k"})
	srv := httptest.NewServer(m)
	t.Cleanup(func() { srv.Close(); m.Close() })
	up := providertest.Upstream{Client: srv.Client(), Base: srv.URL, Auth: http.Header{"X-Goog-Api-Key": {"k"}}}
	schema := map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}, "additionalProperties": false}
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "body", true: "stream"}[stream]
		t.Run("openai_"+name, func(t *testing.T) {
			first := map[string]any{"model": "alias", "reasoning_effort": "low",
				"tools":    []any{map[string]any{"type": "function", "function": map[string]any{"name": "lookup", "parameters": schema}}},
				"messages": []any{map[string]any{"role": "user", "content": "look it up"}}}
			t1, t2 := providertest.Loop(t, up, New, provider.OpenAIChat, stream, "gemini-mock", first)
			if t1.Stop != "tool_calls" || t1.Reasoning == "" || !strings.Contains(t1.Tools[0].ID, "__ts__") || !strings.HasPrefix(t2.Text, "mock") {
				t.Fatalf("turns: %+v / %+v", t1, t2)
			}
		})
		t.Run("anthropic_"+name, func(t *testing.T) {
			first := map[string]any{"model": "alias", "max_tokens": 1024, "thinking": map[string]any{"type": "enabled", "budget_tokens": 1024},
				"tools":    []any{map[string]any{"name": "lookup", "input_schema": schema}},
				"messages": []any{map[string]any{"role": "user", "content": "look it up"}}}
			t1, t2 := providertest.Loop(t, up, New, provider.AnthropicMessages, stream, "gemini-mock", first)
			if t1.Stop != "tool_use" || t1.Tools[0].Function.Arguments != mockupstream.ToolArguments || t2.Stop != "end_turn" {
				t.Fatalf("turns: %+v / %+v", t1, t2)
			}
		})
	}
	t.Run("count_tokens", func(t *testing.T) {
		tr, _ := New(provider.AnthropicCountTokens)
		res, err := providertest.Exchange(up.Client, up.Base, up.Auth, tr, &provider.Request{API: provider.AnthropicCountTokens,
			Body: []byte(`{"model":"alias","system":"s","messages":[{"role":"user","content":"count me"}]}`), Header: http.Header{}}, "gemini-mock")
		if err != nil || res.Status != 200 || res.Err != nil || !strings.Contains(string(res.Body), `"input_tokens":`) {
			t.Fatalf("count_tokens: %v %d %v %s", err, res.Status, res.Err, res.Body)
		}
	})
}
