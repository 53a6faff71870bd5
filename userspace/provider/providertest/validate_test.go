package providertest

import (
	"strings"
	"testing"
)

func TestAnthropicStreamGrammar(t *testing.T) {
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"x\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n"
	text := "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	end := "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	tests := []struct{ name, stream, err string }{
		{"valid", start + text + end, ""},
		{"no message_stop", start + text, "ended in state blocks"},
		{"block before start", text + end, "not allowed in state start"},
		{"wrong delta kind", start + strings.Replace(text, `"text_delta","text":"hi"`, `"input_json_delta","partial_json":"{"`, 1) + end, "input_json_delta in a text block"},
		{"index gap", start + strings.ReplaceAll(text, `"index":0`, `"index":1`) + end, "index 1, want 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := AnthropicStream([]byte(tt.stream))
			if tt.err == "" {
				if err != nil || msg.Content[0].Text != "hi" || *msg.StopReason != "end_turn" {
					t.Fatalf("got %+v, %v", msg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestOpenAIStreamGrammar(t *testing.T) {
	chunk := func(delta, finish string) string {
		return `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + "}]}\n\n"
	}
	call := chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}`, "null") +
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}`, "null")
	tests := []struct{ name, stream, err string }{
		{"valid", chunk(`{"role":"assistant"}`, "null") + call + chunk(`{}`, `"tool_calls"`) + "data: [DONE]\n\n", ""},
		{"no done", chunk(`{"content":"x"}`, `"stop"`), "without finish_reason or [DONE]"},
		{"call without id", chunk(`{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}`, `"tool_calls"`) + "data: [DONE]\n\n", "starts without id"},
		{"bad arguments", strings.Replace(call, `:1}`, `:`, 1) + chunk(`{}`, `"tool_calls"`) + "data: [DONE]\n\n", "not a JSON object"},
		{"delta after finish", chunk(`{}`, `"stop"`) + chunk(`{"content":"late"}`, "null") + "data: [DONE]\n\n", "delta after finish_reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := OpenAIStream([]byte(tt.stream))
			if tt.err == "" {
				if err != nil || msg.ToolCalls[0].Function.Arguments != `{"a":1}` {
					t.Fatalf("got %+v, %v", msg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}
