package mockupstream

import (
	"encoding/base64"
	"encoding/binary"
	"flag"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const testKey = "sk-test-key"

var (
	openAIAuth    = map[string]string{"Authorization": "Bearer " + testKey}
	anthropicAuth = map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}
	geminiAuth    = map[string]string{"x-goog-api-key": testKey}
)

// tableOpts is the server of the endpoint table: 7 words in 3 chunks, 2 cached tokens.
var tableOpts = Options{Words: 7, Chunks: 3, CachedTokens: 2, APIKey: testKey}

type endpointCase struct {
	name   string
	ep     endpoint
	path   string
	body   string
	stream bool
	want   result // prompt and total are filled from the body when want.prompt is -1
}

const (
	chatTools      = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"function","function":{"name":"other"}}]`
	anthropicTools = `"tools":[{"name":"get_weather","input_schema":{"type":"object"}}]`
	geminiTools    = `"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"object"}}]}]`
	userHi         = `"messages":[{"role":"user","content":"hi"}]`
)

var text7 = ReplyText(7)

func endpointCases() []endpointCase {
	think := ThinkingText(DefaultThinkingWords)
	return []endpointCase{
		{name: "chat", ep: epChat, path: "/v1/chat/completions",
			body: `{"model":"m1",` + userHi + `}`,
			want: result{text: text7, model: "m1", finish: "stop", prompt: -1, completion: 7, cached: 2}},
		{name: "chat_stream", ep: epChat, path: "/v1/chat/completions", stream: true,
			body: `{"model":"m1","stream":true,` + userHi + `}`,
			want: result{text: text7, model: "m1", finish: "stop", contentChunks: 3, done: true}},
		{name: "chat_stream_usage", ep: epChat, path: "/v1/chat/completions", stream: true,
			body: `{"model":"m1","stream":true,"stream_options":{"include_usage":true},` + userHi + `}`,
			want: result{text: text7, model: "m1", finish: "stop", prompt: -1, completion: 7, cached: 2, contentChunks: 3, done: true}},
		{name: "chat_tools", ep: epChat, path: "/v1/chat/completions",
			body: `{"model":"m1",` + chatTools + `,` + userHi + `}`,
			want: result{model: "m1", finish: "tool_calls", prompt: -1, completion: ToolCallTokens, cached: 2, toolName: "get_weather", toolArgs: ToolArguments, id: OpenAIToolCallID}},
		{name: "chat_tools_stream", ep: epChat, path: "/v1/chat/completions", stream: true,
			body: `{"model":"m1","stream":true,"stream_options":{"include_usage":true},"tool_choice":{"type":"function","function":{"name":"other"}},` + chatTools + `,` + userHi + `}`,
			want: result{model: "m1", finish: "tool_calls", prompt: -1, completion: ToolCallTokens, cached: 2, toolName: "other", toolArgs: ToolArguments, id: OpenAIToolCallID, contentChunks: 1 + len(toolArgPieces), done: true}},
		{name: "chat_tool_choice_none", ep: epChat, path: "/v1/chat/completions",
			body: `{"model":"m1","tool_choice":"none",` + chatTools + `,` + userHi + `}`,
			want: result{text: text7, model: "m1", finish: "stop", prompt: -1, completion: 7, cached: 2}},
		{name: "chat_after_tool_result", ep: epChat, path: "/v1/chat/completions",
			body: `{"model":"m1",` + chatTools + `,"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"call_mock_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_mock_1","content":"sunny"}]}`,
			want: result{text: text7, model: "m1", finish: "stop", prompt: -1, completion: 7, cached: 2}},
		{name: "chat_max_tokens", ep: epChat, path: "/v1/chat/completions",
			body: `{"model":"m1","max_completion_tokens":3,` + userHi + `}`,
			want: result{text: ReplyText(3), model: "m1", finish: "length", prompt: -1, completion: 3, cached: 2}},
		{name: "chat_reasoning", ep: epChat, path: "/v1/chat/completions",
			body: `{"model":"o-mock","reasoning_effort":"high",` + userHi + `}`,
			want: result{text: text7, model: "o-mock", finish: "stop", prompt: -1, completion: 7 + DefaultThinkingWords, cached: 2, reason: DefaultThinkingWords}},
		{name: "completions", ep: epCompletions, path: "/v1/completions",
			body: `{"model":"m1","prompt":"say hi"}`,
			want: result{text: text7, model: "m1", finish: "stop", prompt: -1, completion: 7}},
		{name: "completions_stream", ep: epCompletions, path: "/v1/completions", stream: true,
			body: `{"model":"m1","prompt":"say hi","stream":true,"stream_options":{"include_usage":true}}`,
			want: result{text: text7, model: "m1", finish: "stop", prompt: -1, completion: 7, contentChunks: 3, done: true}},
		{name: "responses", ep: epResponses, path: "/v1/responses",
			body: `{"model":"m1","input":"hi"}`,
			want: result{text: text7, model: "m1", finish: "completed", prompt: -1, completion: 7, cached: 2}},
		{name: "responses_stream", ep: epResponses, path: "/v1/responses", stream: true,
			body: `{"model":"m1","input":"hi","stream":true,"reasoning":{"effort":"low"}}`,
			want: result{text: text7, model: "m1", finish: "completed", prompt: -1, completion: 7 + DefaultThinkingWords, cached: 2, reason: DefaultThinkingWords, contentChunks: 3, done: true}},
		{name: "responses_max_output", ep: epResponses, path: "/v1/responses",
			body: `{"model":"m1","input":"hi","max_output_tokens":2}`,
			want: result{text: ReplyText(2), model: "m1", finish: "incomplete", prompt: -1, completion: 2, cached: 2}},
		{name: "messages", ep: epMessages, path: "/v1/messages",
			body: `{"model":"claude-mock","max_tokens":100,` + userHi + `}`,
			want: result{text: text7, model: "claude-mock", finish: "end_turn", prompt: -1, completion: 7, cached: 2}},
		{name: "messages_stream", ep: epMessages, path: "/v1/messages", stream: true,
			body: `{"model":"claude-mock","max_tokens":100,"stream":true,` + userHi + `}`,
			want: result{text: text7, model: "claude-mock", finish: "end_turn", prompt: -1, completion: 7, cached: 2, contentChunks: 3, done: true}},
		{name: "messages_max_tokens", ep: epMessages, path: "/v1/messages",
			body: `{"model":"claude-mock","max_tokens":4,` + userHi + `}`,
			want: result{text: ReplyText(4), model: "claude-mock", finish: "max_tokens", prompt: -1, completion: 4, cached: 2}},
		{name: "messages_tools", ep: epMessages, path: "/v1/messages",
			body: `{"model":"claude-mock","max_tokens":100,` + anthropicTools + `,` + userHi + `}`,
			want: result{text: text7, model: "claude-mock", finish: "tool_use", prompt: -1, completion: 7 + ToolCallTokens, cached: 2, toolName: "get_weather", toolArgs: ToolArguments, id: AnthropicToolUseID}},
		{name: "messages_tools_stream", ep: epMessages, path: "/v1/messages", stream: true,
			body: `{"model":"claude-mock","max_tokens":100,"stream":true,` + anthropicTools + `,` + userHi + `}`,
			want: result{text: text7, model: "claude-mock", finish: "tool_use", prompt: -1, completion: 7 + ToolCallTokens, cached: 2, toolName: "get_weather", toolArgs: ToolArguments, id: AnthropicToolUseID, contentChunks: 3 + 1 + len(toolArgPieces), done: true}},
		{name: "messages_after_tool_result", ep: epMessages, path: "/v1/messages",
			body: `{"model":"claude-mock","max_tokens":100,` + anthropicTools + `,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_mock_1","name":"get_weather","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_mock_1","content":"sunny"}]}]}`,
			want: result{text: text7, model: "claude-mock", finish: "end_turn", prompt: -1, completion: 7, cached: 2}},
		{name: "messages_thinking", ep: epMessages, path: "/v1/messages",
			body: `{"model":"claude-mock","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + userHi + `}`,
			want: result{text: text7, model: "claude-mock", finish: "end_turn", prompt: -1, completion: 7 + DefaultThinkingWords, cached: 2, thinking: think, signature: Signature(think)}},
		{name: "messages_thinking_tools_stream", ep: epMessages, path: "/v1/messages", stream: true,
			body: `{"model":"claude-mock","max_tokens":2048,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},` + anthropicTools + `,` + userHi + `}`,
			want: result{text: text7, model: "claude-mock", finish: "tool_use", prompt: -1, completion: 7 + DefaultThinkingWords + ToolCallTokens, cached: 2, thinking: think, signature: Signature(think), toolName: "get_weather", toolArgs: ToolArguments, id: AnthropicToolUseID, contentChunks: 3 + 3 + 1 + len(toolArgPieces), done: true}},
		{name: "messages_signed_history", ep: epMessages, path: "/v1/messages",
			body: `{"model":"claude-mock","max_tokens":100,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"` + think + `","signature":"` + Signature(think) + `"},{"type":"text","text":"x"}]},{"role":"user","content":"again"}]}`,
			want: result{text: text7, model: "claude-mock", finish: "end_turn", prompt: -1, completion: 7, cached: 2}},
		{name: "gemini", ep: epGeminiGenerate, path: "/v1beta/models/gemini-mock:generateContent",
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			want: result{text: text7, model: "gemini-mock", finish: "STOP", prompt: -1, completion: 7, cached: 2, done: true}},
		{name: "gemini_stream", ep: epGeminiStream, path: "/v1beta/models/gemini-mock:streamGenerateContent?alt=sse", stream: true,
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			want: result{text: text7, model: "gemini-mock", finish: "STOP", prompt: -1, completion: 7, cached: 2, contentChunks: 3, done: true}},
		{name: "gemini_max_tokens", ep: epGeminiGenerate, path: "/v1beta/models/gemini-mock:generateContent",
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":5}}`,
			want: result{text: ReplyText(5), model: "gemini-mock", finish: "MAX_TOKENS", prompt: -1, completion: 5, cached: 2, done: true}},
		{name: "gemini_tools", ep: epGeminiGenerate, path: "/v1beta/models/gemini-mock:generateContent",
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],` + geminiTools + `}`,
			want: result{model: "gemini-mock", finish: "STOP", prompt: -1, completion: ToolCallTokens, cached: 2, toolName: "get_weather", toolArgs: ToolArguments, done: true}},
		{name: "gemini_tools_none", ep: epGeminiGenerate, path: "/v1beta/models/gemini-mock:generateContent",
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],` + geminiTools + `,"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
			want: result{text: text7, model: "gemini-mock", finish: "STOP", prompt: -1, completion: 7, cached: 2, done: true}},
		{name: "gemini_after_function_response", ep: epGeminiGenerate, path: "/v1beta/models/gemini-mock:generateContent",
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"r":"sunny"}}}]}],` + geminiTools + `}`,
			want: result{text: text7, model: "gemini-mock", finish: "STOP", prompt: -1, completion: 7, cached: 2, done: true}},
		{name: "gemini_thinking_tools_stream", ep: epGeminiStream, path: "/v1beta/models/gemini-mock:streamGenerateContent?alt=sse", stream: true,
			body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],` + geminiTools + `,"generationConfig":{"thinkingConfig":{"includeThoughts":true}}}`,
			want: result{model: "gemini-mock", finish: "STOP", prompt: -1, completion: ToolCallTokens + DefaultThinkingWords, cached: 2, reason: DefaultThinkingWords, thinking: think, signature: Signature(think), toolName: "get_weather", toolArgs: ToolArguments, contentChunks: 2, done: true}},
	}
}

func authFor(ep endpoint) map[string]string {
	switch ep.dialect() {
	case dialectAnthropic:
		return anthropicAuth
	case dialectGemini:
		return geminiAuth
	}
	return openAIAuth
}

// TestEndpoints runs every endpoint, streaming and not, through a real HTTP
// client, decodes the answer as that provider's client would, and checks the
// text, usage, finish reason, tool call and thinking content exactly. The
// raw answers are golden files: they document the mock's wire format.
func TestEndpoints(t *testing.T) {
	s, url := newMock(t, tableOpts)
	for _, tc := range endpointCases() {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := call(t, nil, http.MethodPost, url+tc.path, authFor(tc.ep), tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			ct := resp.Header.Get("Content-Type")
			if tc.stream != strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("content type %q for stream=%v", ct, tc.stream)
			}
			got := decodeAnswer(t, tc.ep, tc.stream, body)
			want := tc.want
			if want.prompt == -1 {
				want.prompt = PromptTokensFor([]byte(tc.body))
				if tc.ep != epMessages { // Anthropic reports no total
					want.total = want.prompt + want.completion
				}
			}
			if got != want {
				t.Errorf("answer\n got %+v\nwant %+v\nbody:\n%s", got, want, body)
			}
			if tc.ep == epGeminiStream && !strings.Contains(string(body), "\r\n\r\n") {
				t.Error("gemini stream does not use CRLF line ends")
			}
			golden(t, filepath.Join("testdata", "answers", tc.name+".txt"), body)
		})
	}
	if n := s.Count(); n != len(endpointCases()) {
		t.Errorf("Count() = %d, want %d", n, len(endpointCases()))
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
	}
}

func TestCountTokensAndModels(t *testing.T) {
	_, url := newMock(t, Options{APIKey: testKey, Models: []string{"a", "b"}})
	body := `{"model":"claude-mock",` + userHi + `}`
	_, b, err := call(t, nil, http.MethodPost, url+"/v1/messages/count_tokens", anthropicAuth, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := num(mustJSON(t, b)["input_tokens"]); got != PromptTokensFor([]byte(body)) {
		t.Errorf("count_tokens = %d (%s)", got, b)
	}
	gbody := `{"contents":[{"parts":[{"text":"hi"}]}]}`
	_, b, err = call(t, nil, http.MethodPost, url+"/v1beta/models/g:countTokens", geminiAuth, gbody)
	if err != nil {
		t.Fatal(err)
	}
	if got := num(mustJSON(t, b)["totalTokens"]); got != PromptTokensFor([]byte(gbody)) {
		t.Errorf("countTokens = %d (%s)", got, b)
	}
	tests := []struct {
		name   string
		path   string
		header map[string]string
		ids    func(m map[string]any) []string
	}{
		{"openai", "/v1/models", openAIAuth, func(m map[string]any) []string {
			return []string{str(get(m, "data", 0, "id")), str(get(m, "data", 1, "id"))}
		}},
		{"anthropic", "/v1/models", anthropicAuth, func(m map[string]any) []string {
			return []string{str(get(m, "data", 0, "id")), str(get(m, "last_id"))}
		}},
		{"gemini", "/v1beta/models", geminiAuth, func(m map[string]any) []string {
			return []string{str(get(m, "models", 0, "name")), str(get(m, "models", 1, "name"))}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b, err := call(t, nil, http.MethodGet, url+tc.path, tc.header, "")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			got := tc.ids(mustJSON(t, b))
			want := []string{"a", "b"}
			if tc.name == "gemini" {
				want = []string{"models/a", "models/b"}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("models %v, want %v (%s)", got, want, b)
			}
		})
	}
}

func TestEmbeddings(t *testing.T) {
	_, url := newMock(t, Options{EmbeddingDims: 4})
	tests := []struct {
		name   string
		body   string
		inputs []string
		dims   int
		base64 bool
	}{
		{name: "string", body: `{"model":"e","input":"hello"}`, inputs: []string{"hello"}, dims: 4},
		{name: "strings", body: `{"model":"e","input":["a","b","c"]}`, inputs: []string{"a", "b", "c"}, dims: 4},
		{name: "tokens", body: `{"model":"e","input":[1,2,3]}`, inputs: []string{"[1,2,3]"}, dims: 4},
		{name: "token_arrays", body: `{"model":"e","input":[[1,2],[3]]}`, inputs: []string{"[1,2]", "[3]"}, dims: 4},
		{name: "dimensions", body: `{"model":"e","input":"x","dimensions":16}`, inputs: []string{"x"}, dims: 16},
		{name: "base64", body: `{"model":"e","input":"x","encoding_format":"base64"}`, inputs: []string{"x"}, dims: 4, base64: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b, err := call(t, nil, http.MethodPost, url+"/v1/embeddings", nil, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			m := mustJSON(t, b)
			data, _ := m["data"].([]any)
			if len(data) != len(tc.inputs) {
				t.Fatalf("%d embeddings, want %d: %s", len(data), len(tc.inputs), b)
			}
			for i, in := range tc.inputs {
				want := EmbeddingVector(in, tc.dims)
				var got []float32
				if tc.base64 {
					raw, err := base64.StdEncoding.DecodeString(str(get(data[i], "embedding")))
					if err != nil {
						t.Fatal(err)
					}
					for j := 0; j+4 <= len(raw); j += 4 {
						got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
					}
				} else {
					for _, f := range get(data[i], "embedding").([]any) {
						got = append(got, float32(f.(float64)))
					}
				}
				if len(got) != len(want) {
					t.Fatalf("input %d: %d dims, want %d", i, len(got), len(want))
				}
				for j := range want {
					if got[j] != want[j] {
						t.Fatalf("input %d dim %d: %v, want %v", i, j, got[j], want[j])
					}
				}
				if num(get(data[i], "index")) != i {
					t.Errorf("index %v, want %d", get(data[i], "index"), i)
				}
			}
			if p := num(get(m, "usage", "prompt_tokens")); p != PromptTokensFor([]byte(tc.body)) {
				t.Errorf("prompt_tokens %d", p)
			}
		})
	}
}

// TestRequestErrors checks that bad requests and bad credentials get the
// provider's own status and error shape.
func TestRequestErrors(t *testing.T) {
	_, url := newMock(t, Options{APIKey: testKey})
	openAIType := func(m map[string]any) string {
		return str(get(m, "error", "type")) + "/" + str(get(m, "error", "code"))
	}
	anthropicType := func(m map[string]any) string { return str(m["type"]) + "/" + str(get(m, "error", "type")) }
	geminiType := func(m map[string]any) string {
		return str(get(m, "error", "status")) + "/" + str(get(m, "error", "details", 0, "reason"))
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		shape              func(map[string]any) string
		want               string
	}{
		{"openai_no_key", "POST", "/v1/chat/completions", nil, `{}`, 401, openAIType, "invalid_request_error/invalid_api_key"},
		{"openai_bad_key", "POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer nope"}, `{}`, 401, openAIType, "invalid_request_error/invalid_api_key"},
		{"openai_azure_key", "POST", "/v1/chat/completions", map[string]string{"api-key": testKey}, `{"model":"m",` + userHi + `}`, 200, nil, ""},
		{"anthropic_no_key", "POST", "/v1/messages", map[string]string{"anthropic-version": "2023-06-01"}, `{}`, 401, anthropicType, "error/authentication_error"},
		{"anthropic_bearer_not_accepted", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + testKey}, `{}`, 401, anthropicType, "error/authentication_error"},
		{"gemini_no_key", "POST", "/v1beta/models/g:generateContent", nil, `{}`, 403, geminiType, "PERMISSION_DENIED/"},
		{"gemini_bad_key", "POST", "/v1beta/models/g:generateContent", map[string]string{"x-goog-api-key": "nope"}, `{}`, 400, geminiType, "INVALID_ARGUMENT/API_KEY_INVALID"},
		{"gemini_query_key", "POST", "/v1beta/models/g:generateContent?key=" + testKey, nil, `{"contents":[{"parts":[{"text":"x"}]}]}`, 200, nil, ""},
		{"invalid_json", "POST", "/v1/chat/completions", openAIAuth, `{"model":`, 400, openAIType, "invalid_request_error/"},
		{"wrong_type", "POST", "/v1/chat/completions", openAIAuth, `{"model":"m","stream":"yes",` + userHi + `}`, 400, openAIType, "invalid_request_error/"},
		{"chat_no_model", "POST", "/v1/chat/completions", openAIAuth, `{` + userHi + `}`, 400, openAIType, "invalid_request_error/"},
		{"chat_no_messages", "POST", "/v1/chat/completions", openAIAuth, `{"model":"m"}`, 400, openAIType, "invalid_request_error/"},
		{"chat_stream_options_without_stream", "POST", "/v1/chat/completions", openAIAuth, `{"model":"m","stream_options":{"include_usage":true},` + userHi + `}`, 400, openAIType, "invalid_request_error/"},
		{"chat_max_tokens_zero", "POST", "/v1/chat/completions", openAIAuth, `{"model":"m","max_tokens":0,` + userHi + `}`, 400, openAIType, "invalid_request_error/"},
		{"embeddings_bad_input", "POST", "/v1/embeddings", openAIAuth, `{"model":"m","input":{"a":1}}`, 400, openAIType, "invalid_request_error/"},
		{"anthropic_no_version", "POST", "/v1/messages", map[string]string{"x-api-key": testKey}, `{"model":"c","max_tokens":10,` + userHi + `}`, 400, anthropicType, "error/invalid_request_error"},
		{"anthropic_no_max_tokens", "POST", "/v1/messages", anthropicAuth, `{"model":"c",` + userHi + `}`, 400, anthropicType, "error/invalid_request_error"},
		{"anthropic_small_budget", "POST", "/v1/messages", anthropicAuth, `{"model":"c","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":100},` + userHi + `}`, 400, anthropicType, "error/invalid_request_error"},
		{"anthropic_budget_over_max", "POST", "/v1/messages", anthropicAuth, `{"model":"c","max_tokens":1500,"thinking":{"type":"enabled","budget_tokens":2000},` + userHi + `}`, 400, anthropicType, "error/invalid_request_error"},
		{"anthropic_bad_signature", "POST", "/v1/messages", anthropicAuth, `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"forged"}]},{"role":"user","content":"b"}]}`, 400, anthropicType, "error/invalid_request_error"},
		{"gemini_no_contents", "POST", "/v1beta/models/g:generateContent", geminiAuth, `{}`, 400, geminiType, "INVALID_ARGUMENT/"},
		{"gemini_stream_without_alt_sse", "POST", "/v1beta/models/g:streamGenerateContent", geminiAuth, `{"contents":[{"parts":[{"text":"x"}]}]}`, 400, geminiType, "INVALID_ARGUMENT/"},
		{"unknown_path", "POST", "/v1/nope", openAIAuth, `{}`, 404, openAIType, "invalid_request_error/model_not_found"},
		{"unknown_gemini_method", "POST", "/v1beta/models/g:nope", geminiAuth, `{}`, 404, geminiType, "NOT_FOUND/"},
		{"wrong_method", "GET", "/v1/chat/completions", openAIAuth, "", 405, openAIType, "invalid_request_error/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b, err := call(t, nil, tc.method, url+tc.path, tc.header, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.shape == nil {
				return
			}
			m := mustJSON(t, b)
			if got := tc.shape(m); got != tc.want {
				t.Errorf("error shape %q, want %q: %s", got, tc.want, b)
			}
			if str(get(m, "error", "message")) == "" {
				t.Errorf("error without message: %s", b)
			}
		})
	}
}

func TestOptionsModelAndPromptTokens(t *testing.T) {
	_, url := newMock(t, Options{Model: "fixed", PromptTokens: 42, ReplyBytes: 40})
	_, b, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", nil, `{"model":"asked",`+userHi+`}`)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeAnswer(t, epChat, false, b)
	if r.model != "fixed" || r.prompt != 42 {
		t.Errorf("model %q prompt %d, want fixed 42", r.model, r.prompt)
	}
	if len(r.text) < 40 || len(ReplyText(r.completion-1)) >= 40 || r.text != ReplyText(r.completion) {
		t.Errorf("ReplyBytes 40 gave %d words %q", r.completion, r.text)
	}
}

func TestReplyText(t *testing.T) {
	tests := []struct {
		words int
		want  string
	}{
		{0, ""}, {1, "mock"}, {2, "mock reply"}, {5, "mock reply 1 2 3"}, {12, "mock reply 1 2 3 4 5 6 7 8 9 10"},
	}
	for _, tc := range tests {
		if got := ReplyText(tc.words); got != tc.want {
			t.Errorf("ReplyText(%d) = %q, want %q", tc.words, got, tc.want)
		}
	}
	for _, n := range []int{1, 2, 3, 7, 20} {
		words := textWords("mock reply", 20)
		for chunks := 1; chunks <= 25; chunks++ {
			ps := pieces(words[:n], chunks)
			if len(ps) != min(chunks, n) || strings.Join(ps, "") != ReplyText(n) {
				t.Fatalf("pieces(%d words, %d) = %q", n, chunks, ps)
			}
		}
	}
	for _, n := range []int{1, 4, 10, 11, 100, 1000} {
		w := wordsForBytes(n)
		if len(ReplyText(w)) < n || (w > 1 && len(ReplyText(w-1)) >= n) {
			t.Errorf("wordsForBytes(%d) = %d", n, w)
		}
	}
}
