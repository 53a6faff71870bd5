package offline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	schema "github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

// fast is the model without pacing, so tests do not wait.
var fast = &http.Client{Transport: &Model{}}

func post(t *testing.T, c *http.Client, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeBody[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// events reads a whole SSE body.
func events(t *testing.T, resp *http.Response) []sse.Event {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	rd := sse.NewReader(resp.Body)
	var evs []sse.Event
	for range 10000 {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	t.Fatal("endless stream")
	return nil
}

const chatBody = `{"model":"weir-offline","messages":[{"role":"system","content":"Be nice."},{"role":"user","content":[{"type":"text","text":"What is\n  eBPF?"}]}]}`

func TestChat(t *testing.T) {
	resp := post(t, fast, "http://offline.invalid/v1/chat/completions", chatBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c := decodeBody[schema.ChatCompletion](t, resp)
	want := `Hello! I am weir's offline model, answering without an API key or network. You said: "What is eBPF?"`
	if len(c.Choices) != 1 || c.Choices[0].Message.Content.Text != want || c.Choices[0].FinishReason != "stop" || c.Model != "weir-offline" {
		t.Fatalf("answer %+v", c)
	}
	// 2 messages × 3 framing + ceil(8/4) + ceil(14/4).
	if u := c.Usage; u.PromptTokens != 2*3+2+4 || u.CompletionTokens != int64((len(want)+3)/4) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("usage %+v", u)
	}
	again := post(t, fast, "http://other.example/chat/completions", chatBody)
	a, _ := json.Marshal(c)
	b, _ := json.Marshal(decodeBody[schema.ChatCompletion](t, again))
	if !bytes.Equal(a, b) {
		t.Fatalf("not deterministic:\n%s\n%s", a, b)
	}
}

func TestEchoTruncated(t *testing.T) {
	long := strings.Repeat("é", 200)
	got := replyText(long)
	if !strings.HasSuffix(got, `"`+strings.Repeat("é", echoLimit)+`…"`) {
		t.Fatalf("echo not cut at %d characters: %q", echoLimit, got)
	}
	if !strings.Contains(replyText(""), "offline model") {
		t.Fatalf("no intro without a user message")
	}
}

func TestChatStream(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		t.Run(map[bool]string{false: "without usage", true: "with usage"}[includeUsage], func(t *testing.T) {
			body := strings.Replace(chatBody, `{"model"`, `{"stream":true,"stream_options":{"include_usage":`+map[bool]string{false: "false", true: "true"}[includeUsage]+`},"model"`, 1)
			evs := events(t, post(t, fast, "http://offline.invalid/v1/chat/completions", body))
			if string(evs[len(evs)-1].Data) != "[DONE]" {
				t.Fatalf("last event %q", evs[len(evs)-1].Data)
			}
			var text strings.Builder
			var usage *schema.Usage
			finish := ""
			for i, ev := range evs[:len(evs)-1] {
				var c schema.ChatCompletionChunk
				if err := json.Unmarshal(ev.Data, &c); err != nil {
					t.Fatal(err)
				}
				if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
					t.Fatalf("first chunk %s", ev.Data)
				}
				if c.Usage != nil {
					usage = c.Usage
					if len(c.Choices) != 0 {
						t.Fatalf("usage chunk with choices: %s", ev.Data)
					}
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
					if ch.FinishReason != nil {
						finish = *ch.FinishReason
					}
				}
			}
			if !strings.HasSuffix(text.String(), `You said: "What is eBPF?"`) || finish != "stop" {
				t.Fatalf("streamed %q, finish %q", text.String(), finish)
			}
			if (usage != nil) != includeUsage {
				t.Fatalf("usage chunk present = %v, want %v", usage != nil, includeUsage)
			}
			if usage != nil && usage.CompletionTokens != tokens(text.String()) {
				t.Fatalf("usage %+v for %q", usage, text.String())
			}
		})
	}
}

func TestMaxTokens(t *testing.T) {
	resp := post(t, fast, "http://x/v1/chat/completions", `{"model":"m","max_completion_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	c := decodeBody[schema.ChatCompletion](t, resp)
	if c.Choices[0].FinishReason != "length" || c.Usage.CompletionTokens > 5 || c.Choices[0].Message.Content.Text != "Hello! I am weir's" {
		t.Fatalf("cut answer %q finish %s usage %+v", c.Choices[0].Message.Content.Text, c.Choices[0].FinishReason, c.Usage)
	}
}

func TestCompletions(t *testing.T) {
	resp := post(t, fast, "http://x/v1/completions", `{"model":"m","prompt":["first","Say this is a test"]}`)
	c := decodeBody[schema.Completion](t, resp)
	if len(c.Choices) != 1 || !strings.HasSuffix(c.Choices[0].Text, `"Say this is a test"`) || *c.Choices[0].FinishReason != "stop" || c.Usage.PromptTokens != 2+5 {
		t.Fatalf("completion %+v usage %+v", c, c.Usage)
	}
	evs := events(t, post(t, fast, "http://x/v1/completions", `{"model":"m","prompt":[1,2,3],"stream":true,"stream_options":{"include_usage":true}}`))
	var text strings.Builder
	var usage *schema.Usage
	for _, ev := range evs[:len(evs)-1] {
		var c schema.Completion
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Text)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if !strings.HasSuffix(text.String(), `"[1,2,3]"`) || usage == nil || usage.PromptTokens != 3 || string(evs[len(evs)-1].Data) != "[DONE]" {
		t.Fatalf("streamed %q usage %+v", text.String(), usage)
	}
}

func TestResponses(t *testing.T) {
	body := `{"model":"m","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Hi there"},{"type":"input_image","image_url":"https://x/cat.png"}]}]}`
	r := decodeBody[schema.Response](t, post(t, fast, "http://x/v1/responses", body))
	if r.Status != "completed" || len(r.Output) != 1 || !strings.HasSuffix(r.Output[0].Content[0].Text, `"Hi there"`) || r.Usage.InputTokens != 3+2+3 {
		t.Fatalf("response %+v usage %+v", r, r.Usage)
	}
	evs := events(t, post(t, fast, "http://x/v1/responses", strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1)))
	var text strings.Builder
	var last schema.ResponseStreamEvent
	for i, ev := range evs {
		var e schema.ResponseStreamEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type != ev.Event || e.SequenceNumber != int64(i) {
			t.Fatalf("event %d: name %q type %q seq %d", i, ev.Event, e.Type, e.SequenceNumber)
		}
		if e.Type == schema.EventOutputTextDelta {
			text.WriteString(e.Delta)
		}
		last = e
	}
	if evs[0].Event != schema.EventResponseCreated || last.Type != schema.EventResponseCompleted || last.Response.Usage == nil {
		t.Fatalf("first %s last %s", evs[0].Event, last.Type)
	}
	if text.String() != r.Output[0].Content[0].Text || last.Response.Usage.OutputTokens != tokens(text.String()) {
		t.Fatalf("streamed %q, usage %+v", text.String(), last.Response.Usage)
	}
	cut := decodeBody[schema.Response](t, post(t, fast, "http://x/v1/responses", `{"model":"m","input":"hi","max_output_tokens":2}`))
	if cut.Status != "incomplete" || cut.IncompleteDetails == nil || cut.IncompleteDetails.Reason != "max_output_tokens" {
		t.Fatalf("cut response %+v", cut)
	}
}

func TestEmbeddings(t *testing.T) {
	r := decodeBody[schema.EmbeddingResponse](t, post(t, fast, "http://x/v1/embeddings", `{"model":"e","input":["alpha","beta","alpha"]}`))
	if len(r.Data) != 3 || r.Usage.PromptTokens != 2+1+2 {
		t.Fatalf("embeddings %+v", r)
	}
	vecs := make([][]float32, 3)
	for i, d := range r.Data {
		if err := json.Unmarshal(d.Embedding, &vecs[i]); err != nil {
			t.Fatal(err)
		}
		if len(vecs[i]) != DefaultDimensions || d.Index != i {
			t.Fatalf("vector %d: %v", i, vecs[i])
		}
		var n float64
		for _, x := range vecs[i] {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Fatalf("vector %d has norm² %v", i, n)
		}
	}
	if !equal(vecs[0], vecs[2]) || equal(vecs[0], vecs[1]) {
		t.Fatalf("same input must give the same vector, different ones different: %v", vecs)
	}
	b := decodeBody[schema.EmbeddingResponse](t, post(t, fast, "http://x/v1/embeddings", `{"model":"e","input":"alpha","dimensions":3,"encoding_format":"base64"}`))
	var s string
	if err := json.Unmarshal(b.Data[0].Embedding, &s); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 12 {
		t.Fatalf("base64 %q: %v", s, err)
	}
	got := make([]float32, 3)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if !equal(got, Embed("alpha", 3)) {
		t.Fatalf("base64 vector %v, want %v", got, Embed("alpha", 3))
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestModels(t *testing.T) {
	resp, err := fast.Get("http://x/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	l := decodeBody[schema.ModelList](t, resp)
	if len(l.Data) != 1 || l.Data[0].ID != ModelID {
		t.Fatalf("models %+v", l)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		status                   int
		param                    string
	}{
		{"unknown path", "POST", "/v1/images/generations", `{}`, 404, ""},
		{"get on chat", "GET", "/v1/chat/completions", ``, 405, ""},
		{"post on models", "POST", "/v1/models", `{}`, 405, ""},
		{"not json", "POST", "/v1/chat/completions", `{"model":`, 400, ""},
		{"not an object", "POST", "/v1/chat/completions", `[]`, 400, ""},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"m","messages":[]}`, 400, "messages"},
		{"bad message type", "POST", "/v1/chat/completions", `{"model":"m","messages":"hi"}`, 400, "messages"},
		{"no prompt", "POST", "/v1/completions", `{"model":"m"}`, 400, "prompt"},
		{"no input", "POST", "/v1/embeddings", `{"model":"m"}`, 400, "input"},
		{"bad dimensions", "POST", "/v1/embeddings", `{"model":"m","input":"x","dimensions":0}`, 400, "dimensions"},
		{"bad format", "POST", "/v1/embeddings", `{"model":"m","input":"x","encoding_format":"int8"}`, 400, "encoding_format"},
		{"bad responses input", "POST", "/v1/responses", `{"model":"m","input":[]}`, 400, "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, "http://x"+tt.path, strings.NewReader(tt.body))
			resp, err := fast.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			e := decodeBody[schema.ErrorResponse](t, resp)
			if resp.StatusCode != tt.status || e.Error.Message == "" || e.Error.Type != schema.ErrorType(tt.status) {
				t.Fatalf("status %d, error %+v", resp.StatusCode, e.Error)
			}
			if p := e.Error.Param; tt.param != "" && (p == nil || *p != tt.param) {
				t.Fatalf("param %v, want %s", p, tt.param)
			}
		})
	}
}

// TestStreamCancel: cancelling the request ends a paced stream at once.
func TestStreamCancel(t *testing.T) {
	slow := &http.Client{Transport: &Model{ChunkDelay: time.Hour}}
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://x/v1/chat/completions", strings.NewReader(strings.Replace(chatBody, `{"model"`, `{"stream":true,"model"`, 1)))
	resp, err := slow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := sse.NewReader(resp.Body)
	if _, err := rd.Next(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	cancel()
	if _, err := rd.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://x/v1/chat/completions", strings.NewReader(chatBody))
	if _, err := (&Model{}).RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestThroughTranslator runs the pair the agent runs: the openai
// translator's upstream request, the paced default Transport, and the
// translator over the stream, which hides the usage chunk weir asked for.
func TestThroughTranslator(t *testing.T) {
	tr, err := New(provider.OpenAIChat)
	if err != nil {
		t.Fatal(err)
	}
	client := `{"model":"weir-test","stream":true,"messages":[{"role":"user","content":"ping"}]}`
	up, err := tr.Request(&provider.Request{API: provider.OpenAIChat, Body: []byte(client), Model: "weir-test", Stream: true, Header: http.Header{}}, ModelID)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), up.Method, "http://offline.invalid"+up.Path, bytes.NewReader(up.Body))
	resp, err := (&http.Client{Transport: Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []byte
	content := false
	for _, ev := range events(t, resp) {
		ch, err := tr.StreamEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		content = content || ch.Content
		out = append(out, ch.Data...)
	}
	tail, err := tr.StreamEnd()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, tail...)
	u := tr.Usage()
	if !content || u.InputTokens != 3+1 || u.OutputTokens == 0 {
		t.Fatalf("content %v usage %+v", content, u)
	}
	if bytes.Contains(out, []byte(`"usage":{`)) || !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) || !bytes.Contains(out, []byte(`ping`)) {
		t.Fatalf("client stream:\n%s", out)
	}
	if _, err := New(provider.API("nope")); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("unknown API: %v", err)
	}
}
