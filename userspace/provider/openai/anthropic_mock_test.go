package openai

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/userspace/provider"
	pairtest "github.com/weir-gateway/weir/userspace/provider/providertest"
)

// TestAnthropicToOpenAIMockToolLoop runs Claude-Code-shaped tool loops
// against the mock in its OpenAI role, which validates requests as OpenAI does.
func TestAnthropicToOpenAIMockToolLoop(t *testing.T) {
	m := mockupstream.New(mockupstream.Options{APIKey: "k"})
	srv := httptest.NewServer(m)
	t.Cleanup(func() { srv.Close(); m.Close() })
	up := pairtest.Upstream{Client: srv.Client(), Base: srv.URL + "/v1", Auth: http.Header{"Authorization": {"Bearer k"}}}
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "body", true: "stream"}[stream], func(t *testing.T) {
			first := map[string]any{"model": "alias", "max_tokens": 1024, "thinking": map[string]any{"type": "enabled", "budget_tokens": 2048},
				"system":   []any{map[string]any{"type": "text", "text": "You are Claude Code.", "cache_control": map[string]any{"type": "ephemeral"}}},
				"tools":    []any{map[string]any{"name": "lookup", "input_schema": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}}}},
				"messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "look it up"}}}}}
			t1, t2 := pairtest.Loop(t, up, New, provider.AnthropicMessages, stream, "mock-gpt", first)
			if t1.Stop != "tool_use" || t1.Tools[0].Function.Arguments != mockupstream.ToolArguments || t2.Stop != "end_turn" || !strings.HasPrefix(t2.Text, "mock") {
				t.Fatalf("turns: %+v / %+v", t1, t2)
			}
		})
	}
	t.Run("count_tokens", func(t *testing.T) {
		tr, _ := New(provider.AnthropicCountTokens)
		res, err := pairtest.Exchange(up.Client, up.Base, up.Auth, tr, &provider.Request{API: provider.AnthropicCountTokens,
			Body: []byte(`{"model":"alias","messages":[{"role":"user","content":"count me"}]}`), Header: http.Header{}}, "mock-gpt")
		if err != nil || res.Status != 200 || res.Err != nil || !strings.Contains(string(res.Body), `"input_tokens":`) {
			t.Fatalf("count_tokens: %v %d %v %s", err, res.Status, res.Err, res.Body)
		}
	})
}
