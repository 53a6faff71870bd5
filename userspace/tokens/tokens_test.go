package tokens

import (
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
)

// ref counts texts with tiktoken-go, the independent oracle.
func ref(t *testing.T, enc string, texts ...string) int64 {
	t.Helper()
	r, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range texts {
		n += int64(len(r[enc].EncodeOrdinary(s)))
	}
	return n
}

func heur(texts ...string) int64 {
	var n int64
	for _, s := range texts {
		n += heuristic(s)
	}
	return n
}

func TestEstimate(t *testing.T) {
	warm(t)
	tools := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	tests := []struct {
		name   string
		api    provider.API
		model  string
		body   string
		prompt func(t *testing.T) int64
		output int64
		method string
	}{
		{
			name: "chat: messages, name, n choices", api: provider.OpenAIChat, model: "gpt-4o-mini",
			body: `{"model":"x","messages":[{"role":"system","content":"You are terse."},{"role":"user","name":"bob","content":"Hi there"}],"max_completion_tokens":100,"n":2}`,
			prompt: func(t *testing.T) int64 {
				return ref(t, MethodO200k, "You are terse.", "Hi there", "bob") + 2*MessageTokens + NameTokens + ReplyTokens
			},
			output: 200, method: MethodO200k,
		},
		{
			name: "chat: max_tokens, cl100k family", api: provider.OpenAIChat, model: "gpt-4-turbo",
			body: `{"messages":[{"role":"user","content":"Count me: 1234567"}],"max_tokens":7}`,
			prompt: func(t *testing.T) int64 {
				return ref(t, MethodCl100k, "Count me: 1234567") + MessageTokens + ReplyTokens
			},
			output: 7, method: MethodCl100k,
		},
		{
			name: "chat: image part and default output", api: provider.OpenAIChat, model: "openai/gpt-4.1",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},` +
				`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + strings.Repeat("QUFB", 5000) + `","detail":"high"}}]}]}`,
			prompt: func(t *testing.T) int64 {
				return ref(t, MethodO200k, "What is this?") + MediaTokens + MessageTokens + ReplyTokens
			},
			output: DefaultMaxOutput, method: MethodO200k,
		},
		{
			name: "chat: tool calls and tool definitions", api: provider.OpenAIChat, model: "gpt-5",
			body: `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
				`{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":` + tools + `}`,
			prompt: func(t *testing.T) int64 {
				return ref(t, MethodO200k, "get_weather", `{"city":"Paris"}`, "sunny", tools) + 2*MessageTokens + ReplyTokens
			},
			output: DefaultMaxOutput, method: MethodO200k,
		},
		{
			name: "completions: text prompt", api: provider.OpenAICompletions, model: "gpt-3.5-turbo-instruct",
			body:   `{"prompt":"Once upon a time","suffix":" The end.","max_tokens":64}`,
			prompt: func(t *testing.T) int64 { return ref(t, MethodCl100k, "Once upon a time", " The end.") },
			output: 64, method: MethodCl100k,
		},
		{
			name: "completions: token ids", api: provider.OpenAICompletions, model: "gpt-3.5-turbo-instruct",
			body:   `{"prompt":[[1,2,3],[4,5]]}`,
			prompt: func(*testing.T) int64 { return 5 },
			output: DefaultMaxOutput, method: MethodCl100k,
		},
		{
			name: "embeddings: no output", api: provider.OpenAIEmbeddings, model: "text-embedding-3-small",
			body:   `{"input":["a b c","déjà vu"]}`,
			prompt: func(t *testing.T) int64 { return ref(t, MethodCl100k, "a b c", "déjà vu") },
			output: 0, method: MethodCl100k,
		},
		{
			name: "responses: string input and instructions", api: provider.OpenAIResponses, model: "o3-mini",
			body: `{"input":"Summarize this.","instructions":"Be brief.","max_output_tokens":500}`,
			prompt: func(t *testing.T) int64 {
				return ref(t, MethodO200k, "Summarize this.", "Be brief.") + MessageTokens + ReplyTokens
			},
			output: 500, method: MethodO200k,
		},
		{
			name: "responses: items", api: provider.OpenAIResponses, model: "gpt-4o",
			body: `{"input":[{"role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_image","image_url":"https://x/y.png"}]},` +
				`{"type":"function_call_output","call_id":"c1","output":"42"}]}`,
			prompt: func(t *testing.T) int64 {
				return ref(t, MethodO200k, "hi", "42") + MediaTokens + 2*MessageTokens + ReplyTokens
			},
			output: DefaultMaxOutput, method: MethodO200k,
		},
		{
			name: "anthropic: blocks, heuristic family", api: provider.AnthropicMessages, model: "claude-sonnet-4-5",
			body: `{"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"max_tokens":2048,"messages":[` +
				`{"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + strings.Repeat("A", 9000) + `"}}]},` +
				`{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"` + strings.Repeat("s", 500) + `"},{"type":"tool_use","id":"tu_1","name":"calc","input":{"x":1}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu_1","content":"2"}]}]}`,
			prompt: func(*testing.T) int64 {
				return heur("Be brief.", "Look:", "hmm", "calc", `{"x":1}`, "2") + MediaTokens + 3*MessageTokens + ReplyTokens
			},
			output: 2048, method: MethodHeuristic,
		},
		{
			name: "anthropic count_tokens: no output", api: provider.AnthropicCountTokens, model: "claude-haiku-4-5",
			body:   `{"system":"Be brief.","messages":[{"role":"user","content":"Hello"}]}`,
			prompt: func(*testing.T) int64 { return heur("Be brief.", "Hello") + MessageTokens + ReplyTokens },
			output: 0, method: MethodHeuristic,
		},
		{
			name: "unknown model uses the heuristic", api: provider.OpenAIChat, model: "weir-test",
			body:   `{"messages":[{"role":"user","content":"你好, world"}]}`,
			prompt: func(*testing.T) int64 { return heur("你好, world") + MessageTokens + ReplyTokens },
			output: DefaultMaxOutput, method: MethodHeuristic,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Estimate(tt.api, tt.model, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			want := Count{Prompt: tt.prompt(t), Output: tt.output, Method: tt.method}
			if got != want {
				t.Fatalf("Estimate = %+v, want %+v", got, want)
			}
			if got.Total() != want.Prompt+want.Output {
				t.Fatalf("Total = %d", got.Total())
			}
		})
	}
}

func TestEstimateErrors(t *testing.T) {
	tests := []struct {
		name string
		api  provider.API
		body string
		want string
	}{
		{"not JSON", provider.OpenAIChat, `{"messages":`, "unexpected end of JSON input"},
		{"messages not a list", provider.OpenAIChat, `{"messages":"hi"}`, "messages:"},
		{"negative max_tokens", provider.AnthropicMessages, `{"max_tokens":-1,"messages":[]}`, "negative maximum output tokens -1"},
		{"fractional max_tokens", provider.OpenAIChat, `{"max_tokens":1.5}`, "max_tokens"},
		{"n out of range", provider.OpenAIChat, `{"messages":[],"n":0}`, "n must be between 1 and 128"},
		{"unknown API", provider.API("x.y"), `{}`, `unknown API "x.y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Estimate(tt.api, "gpt-4o", []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			// The fallback still reserves something sensible.
			if c.Method != MethodHeuristic || c.Prompt != heuristic(tt.body) || c.Output != DefaultMaxOutput {
				t.Fatalf("fallback = %+v", c)
			}
		})
	}
}

func TestHeuristic(t *testing.T) {
	tests := []struct {
		s    string
		want int64
	}{
		{"", 0},
		{"a", 1},
		{"abcdefg", 2},  // 7 / 3.5
		{"abcdefgh", 3}, // rounded up
		{"你好", 2},       // one per non-ASCII character
		{"héllo", 3},    // 4 ASCII → 2, é → 1
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			if got := heuristic(tt.s); got != tt.want {
				t.Fatalf("heuristic(%q) = %d, want %d", tt.s, got, tt.want)
			}
		})
	}
}

func TestEncodingFor(t *testing.T) {
	tests := []struct {
		model string
		want  *encoding
	}{
		{"gpt-4o", o200k}, {"GPT-4o-mini-2024-07-18", o200k}, {"chatgpt-4o-latest", o200k},
		{"gpt-4.1-nano", o200k}, {"gpt-5", o200k}, {"gpt-5.1-codex", o200k}, {"gpt-oss-120b", o200k},
		{"o1", o200k}, {"o3-mini", o200k}, {"o4-mini-high", o200k}, {"openai/gpt-4o", o200k},
		{"ft:gpt-4o-mini:acme::abc123", o200k},
		{"gpt-4", cl100k}, {"gpt-4-turbo", cl100k}, {"gpt-3.5-turbo", cl100k}, {"gpt-35-turbo", cl100k},
		{"text-embedding-3-large", cl100k},
		{"o10-preview", nil}, {"claude-sonnet-4-5", nil}, {"gemini-2.5-pro", nil}, {"llama-3.1-70b", nil},
		{"weir-test", nil}, {"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := encodingFor(tt.model); got != tt.want {
				t.Fatalf("encodingFor(%q) = %v, want %v", tt.model, got, tt.want)
			}
		})
	}
}

// TestHugePromptIsExtrapolated checks that text beyond ExactBytes is
// estimated from the counted part's ratio, close to the full count.
func TestHugePromptIsExtrapolated(t *testing.T) {
	warm(t)
	para := "The committee reviewed the proposal in detail and asked for revisions. "
	text := strings.Repeat(para, (3*ExactBytes)/len(para))
	body := `{"messages":[{"role":"user","content":"` + text + `"}]}`
	got, err := Estimate(provider.OpenAIChat, "gpt-4o", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	exact := o200k.count(o200k.ranks(), text) + MessageTokens + ReplyTokens
	if diff := got.Prompt - exact; diff < -exact/100 || diff > exact/100 {
		t.Fatalf("extrapolated %d, exact %d: off by more than 1%%", got.Prompt, exact)
	}
}

// TestVocabularyLoadsInBackground checks that a vocabulary not loaded yet
// makes the caller fall back instead of waiting, and is used once loaded.
func TestVocabularyLoadsInBackground(t *testing.T) {
	e := &encoding{name: MethodCl100k, file: "cl100k_base.tiktoken", split: splitCl100k, done: make(chan struct{})}
	if r := e.ranks(); r != nil {
		t.Fatal("a vocabulary was ready before loading")
	}
	if err := e.wait(); err != nil {
		t.Fatal(err)
	}
	if r := e.ranks(); r.len() < 100_000 {
		t.Fatalf("loaded %d ranks", r.len())
	}
	bad := &encoding{name: "nope", file: "nope.tiktoken", done: make(chan struct{})}
	if err := bad.wait(); err == nil || !strings.Contains(err.Error(), "load nope") {
		t.Fatalf("missing vocabulary: %v", err)
	}
	if bad.ranks() != nil {
		t.Fatal("a failed vocabulary returned ranks")
	}
}

var apis = []provider.API{provider.OpenAIChat, provider.OpenAICompletions, provider.OpenAIEmbeddings,
	provider.OpenAIResponses, provider.AnthropicMessages, provider.AnthropicCountTokens}

// FuzzEstimate checks that no body panics or yields a negative count.
func FuzzEstimate(f *testing.F) {
	f.Add(uint8(0), `{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)
	f.Add(uint8(1), `{"prompt":[[1,2],[3]],"n":3}`)
	f.Add(uint8(3), `{"input":[{"type":"message","content":[{"type":"input_text","text":"x"}]}]}`)
	f.Add(uint8(4), `{"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_use","input":{"a":[1]}}]}]}`)
	warm(f)
	f.Fuzz(func(t *testing.T, api uint8, body string) {
		c, err := Estimate(apis[int(api)%len(apis)], "gpt-4o", []byte(body))
		if c.Prompt < 0 || c.Output < 0 {
			t.Fatalf("negative count %+v (err %v)", c, err)
		}
	})
}

func BenchmarkEstimate(b *testing.B) {
	warm(b)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog; it's 2024, isn't it? ", 16)[:1024]
	body := []byte(`{"model":"gpt-4o","max_tokens":256,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + text + `"}]}`)
	for _, model := range []string{"gpt-4o", "claude-sonnet-4-5"} {
		b.Run(model+"/1KiB-chat", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Estimate(provider.OpenAIChat, model, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(model+"/1KiB-chat-prevalidated", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EstimateValid(provider.OpenAIChat, model, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzHeuristic: the eight-bytes-at-a-time count equals countBytes over the
// whole string, whatever mix of ASCII, non-ASCII and broken UTF-8 it holds.
func FuzzHeuristic(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "abcdefg你好", "héllo wörld, this is ascii", "\xff\xfe\x80abcdefghijk", strings.Repeat("ab你", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, o := countBytes(s)
		if got, want := heuristic(s), (a*2+6)/7+o; got != want {
			t.Fatalf("heuristic(%q) = %d, byte by byte %d", s, got, want)
		}
	})
}

// BenchmarkHeuristic counts 1 KiB of ASCII and of mixed text.
func BenchmarkHeuristic(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"ascii-1k", strings.Repeat("lorem ipsum ", 86)[:1024]},
		{"mixed-1k", strings.Repeat("lorem 你好 ", 80)[:1024]},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				_ = heuristic(c.s)
			}
		})
	}
}
