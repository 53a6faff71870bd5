package anthropic

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestStreamWriter: a writer fed with pieces of another provider's stream
// numbers and closes blocks itself and brackets them with message events.
func TestStreamWriter(t *testing.T) {
	var w StreamWriter
	var b []byte
	b = w.Start(b, "msg_1", "m", Usage{InputTokens: 3})
	b = w.Start(b, "again", "m", Usage{}) // ignored
	b = w.Thinking(b, "hm")
	b = w.Signature(b, "sig")
	b = w.Text(b, "a")
	b = w.Text(b, "b")
	b = w.ToolStart(b, "call_1", "f")
	b = w.ToolArgs(b, `{"x":`)
	b = w.ToolArgs(b, `1}`)
	b = w.Redacted(b, "opaque")
	seq := "END"
	b = w.Finish(b, StopStopSequence, &seq, Usage{InputTokens: 3, OutputTokens: 9})
	want := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"b\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"f\",\"input\":{}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"x\\\":\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":9}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

func TestErrorTypes(t *testing.T) {
	for _, tt := range []struct {
		status int
		typ    string
		back   int
	}{
		{400, "invalid_request_error", 400}, {401, "authentication_error", 401}, {403, "permission_error", 403},
		{404, "not_found_error", 404}, {413, "request_too_large", 413}, {429, "rate_limit_error", 429},
		{500, "api_error", 500}, {529, "overloaded_error", http.StatusServiceUnavailable}, {504, "timeout_error", 504},
	} {
		if got := ErrorType(tt.status); got != tt.typ {
			t.Errorf("ErrorType(%d) = %s, want %s", tt.status, got, tt.typ)
		}
		if got := StatusOf(tt.typ); got != tt.back {
			t.Errorf("StatusOf(%s) = %d, want %d", tt.typ, got, tt.back)
		}
	}
	d, ok := ParseError(MarshalError(429, "slow down"))
	if !ok || d.Type != "rate_limit_error" || d.Message != "slow down" {
		t.Fatalf("round trip: %+v %v", d, ok)
	}
	if _, ok := ParseError([]byte(`{"error":{"message":"openai shape"}}`)); ok {
		t.Fatal("an OpenAI error body parsed as Anthropic's")
	}
	if got := string(ErrorEvent(503, "x")); got != "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n" {
		t.Fatalf("ErrorEvent = %q", got)
	}
}

func TestContentShapes(t *testing.T) {
	for _, in := range []string{`"plain"`, `[{"type":"text","text":""},{"type":"tool_use","id":"t","name":"f","input":{}}]`, `[]`} {
		var c Content
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, _ := json.Marshal(c)
		if string(out) != in {
			t.Errorf("round trip %s → %s", in, out)
		}
	}
	var c Content
	if err := json.Unmarshal([]byte(`{"type":"text"}`), &c); err == nil {
		t.Fatal("an object content was accepted")
	}
}

func TestEffortBudget(t *testing.T) {
	for _, e := range []string{"low", "medium", "high"} {
		b, ok := EffortBudget(e)
		if !ok || BudgetEffort(b) != e {
			t.Errorf("%s → %d → %s", e, b, BudgetEffort(b))
		}
	}
	if _, ok := EffortBudget("extreme"); ok {
		t.Fatal("unknown effort accepted")
	}
}
