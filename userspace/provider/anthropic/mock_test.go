package anthropic

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/providertest"
)

// mockAnthropic serves the mock upstream in its Anthropic role, which checks
// requests (anthropic-version, required fields, thinking signatures) as
// Anthropic does.
func mockAnthropic(t *testing.T) providertest.Upstream {
	m := mockupstream.New(mockupstream.Options{APIKey: "k"})
	srv := httptest.NewServer(m)
	t.Cleanup(func() { srv.Close(); m.Close() })
	return providertest.Upstream{Client: srv.Client(), Base: srv.URL, Auth: http.Header{"X-Api-Key": {"k"}}}
}

func TestMockToolLoop(t *testing.T) {
	up := mockAnthropic(t)
	tools := []any{map[string]any{"name": "lookup", "description": "Look up", "input_schema": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}}}}
	chatTools := []any{map[string]any{"type": "function", "function": map[string]any{"name": "lookup", "parameters": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}}}}}
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "body", true: "stream"}[stream]
		t.Run("anthropic_"+name, func(t *testing.T) {
			first := map[string]any{"model": "alias", "max_tokens": 2048, "thinking": map[string]any{"type": "enabled", "budget_tokens": 1024},
				"tools": tools, "messages": []any{map[string]any{"role": "user", "content": "look it up"}}}
			t1, _ := providertest.Loop(t, up, New, provider.AnthropicMessages, stream, "claude-mock", first)
			if t1.Reasoning == "" || t1.Tools[0].Function.Name != "lookup" {
				t.Fatalf("first turn: %+v", t1)
			}
		})
		t.Run("openai_"+name, func(t *testing.T) {
			first := map[string]any{"model": "alias", "reasoning_effort": "low", "tools": chatTools,
				"messages": []any{map[string]any{"role": "system", "content": "be brief"}, map[string]any{"role": "user", "content": "look it up"}}}
			// The second turn carries thinking_blocks back; the mock rejects a
			// thinking block whose signature does not match, as Anthropic does.
			t1, t2 := providertest.Loop(t, up, New, provider.OpenAIChat, stream, "claude-mock", first)
			if t1.Reasoning == "" || t1.Stop != "tool_calls" || !strings.HasPrefix(t2.Text, "mock") || t2.Stop != "stop" {
				t.Fatalf("turns: %+v / %+v", t1, t2)
			}
		})
	}
}

func TestMockTamperedSignatureRejected(t *testing.T) {
	up := mockAnthropic(t)
	body := `{"model":"alias","messages":[{"role":"user","content":"q"},{"role":"assistant","thinking_blocks":[{"type":"thinking","thinking":"x","signature":"forged"}],"content":"a"},{"role":"user","content":"q2"}]}`
	tr, _ := New(provider.OpenAIChat)
	res, err := providertest.Exchange(up.Client, up.Base, up.Auth, tr, &provider.Request{API: provider.OpenAIChat, Body: []byte(body), Header: http.Header{}}, "claude-mock")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "signature") || !strings.Contains(string(res.Body), `"error"`) {
		t.Fatalf("forged signature: %d %s", res.Status, res.Body)
	}
}

func TestMockCountTokens(t *testing.T) {
	up := mockAnthropic(t)
	tr, _ := New(provider.AnthropicCountTokens)
	res, err := providertest.Exchange(up.Client, up.Base, up.Auth, tr, &provider.Request{API: provider.AnthropicCountTokens,
		Body: []byte(`{"model":"alias","messages":[{"role":"user","content":"count me"}]}`), Header: http.Header{}}, "claude-mock")
	if err != nil || res.Status != 200 || res.Err != nil || !strings.Contains(string(res.Body), `"input_tokens":`) {
		t.Fatalf("count_tokens: %v %d %v %s", err, res.Status, res.Err, res.Body)
	}
}
