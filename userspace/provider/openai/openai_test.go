package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
	pairtest "github.com/weir-gateway/weir/userspace/provider/providertest"
	"github.com/weir-gateway/weir/userspace/sse"
)

// update is shared by every golden test of the package.
var update = flag.Bool("update", false, "rewrite the golden sections of testdata cases")

func TestOpenAIPassthroughGolden(t *testing.T) {
	pairtest.Run(t, "testdata/openai_openai", New)
}

func TestNewUnknownAPI(t *testing.T) {
	_, err := New(provider.API("gemini.generate_content"))
	var ue *provider.UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, provider.ErrUnsupported) || ue.Provider != "openai" {
		t.Fatalf("err = %v, want *provider.UnsupportedError for openai", err)
	}
	for _, api := range []provider.API{provider.OpenAIChat, provider.OpenAICompletions, provider.OpenAIEmbeddings, provider.OpenAIResponses} {
		a, err := New(api)
		if err != nil {
			t.Fatalf("%s: %v", api, err)
		}
		b, _ := New(api)
		if a == b {
			t.Fatalf("%s: New returned a shared translator; each attempt needs its own", api)
		}
	}
}

// TestResponseUnchanged: a non-streaming body goes to the client byte for
// byte, whatever its formatting or unknown fields.
func TestResponseUnchanged(t *testing.T) {
	cases, _ := filepath.Glob("testdata/openai_openai/*.txt")
	n := 0
	for _, f := range cases {
		c, err := pairtest.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		in, ok := c.Sections["response"]
		if !ok {
			continue
		}
		n++
		req, _, err := c.Request()
		if err != nil {
			t.Fatal(err)
		}
		tr, _ := New(req.API)
		in = bytes.TrimRight(in, "\n")
		out, _, err := tr.Response(in)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("%s: body changed (%v):\n%s\n%s", f, err, in, out)
		}
	}
	if n == 0 {
		t.Fatal("no case with a response section")
	}
}

func TestResponseErrors(t *testing.T) {
	tests := []struct {
		name, body string
		api        provider.API
		status     int // 0: not an *UpstreamError
	}{
		{"not json", `{"id":`, provider.OpenAIChat, 0},
		{"not object", `[1]`, provider.OpenAIChat, 0},
		{"error in 200", `{"error":{"message":"overloaded","type":"server_error","code":null}}`, provider.OpenAIChat, 500},
		{"error string", `{"error":"quota"}`, provider.OpenAIChat, 0},
		{"error with status", `{"error":{"message":"m","type":"x","status":429}}`, provider.OpenAICompletions, 429},
		{"failed response", `{"id":"r","object":"response","status":"failed","error":{"code":"rate_limit_exceeded","message":"slow down"},"usage":null}`, provider.OpenAIResponses, 429},
		{"bad usage", `{"usage":{"prompt_tokens":"many"}}`, provider.OpenAIChat, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _ := New(tt.api)
			_, _, err := tr.Response([]byte(tt.body))
			if err == nil {
				t.Fatal("no error")
			}
			var ue *provider.UpstreamError
			if errors.As(err, &ue) {
				if tt.status != 0 && ue.Status != tt.status || tt.status == -1 {
					t.Fatalf("status %d (%v), want %d", ue.Status, err, tt.status)
				}
			} else if tt.status > 0 {
				t.Fatalf("err %v is not an *UpstreamError", err)
			}
		})
	}
	// A responses body with "error": null is a normal answer.
	tr, _ := New(provider.OpenAIResponses)
	if _, _, err := tr.Response([]byte(`{"status":"completed","error":null,"usage":{"input_tokens":1,"output_tokens":2}}`)); err != nil {
		t.Fatal(err)
	}
	if u := tr.Usage(); u.InputTokens != 1 || u.OutputTokens != 2 {
		t.Fatalf("usage %+v", u)
	}
}

func TestRewriteRequest(t *testing.T) {
	tests := []struct {
		name, in, model string
		force           bool
		want            string
	}{
		{"replace keeps formatting", "{ \"model\" : \"a\" ,\n \"x\":1 }", "b", false, "{ \"model\" : \"b\" ,\n \"x\":1 }"},
		{"no change returns input", `{"model":"a"}`, "", false, `{"model":"a"}`},
		{"insert model", `{"x":1}`, "b", false, `{"model":"b","x":1}`},
		{"insert into empty", `{}`, "b", true, `{"model":"b","stream_options":{"include_usage":true}}`},
		{"force into empty", `{ }`, "", true, `{ "stream_options":{"include_usage":true}}`},
		{"duplicate models all replaced", `{"model":"a","model":"c"}`, "b", false, `{"model":"b","model":"b"}`},
		{"escaped key replaced", `{"mod\u0065l":"a"}`, "b", false, `{"mod\u0065l":"b"}`},
		{"nested model untouched", `{"model":"a","metadata":{"model":"a"}}`, "b", false, `{"model":"b","metadata":{"model":"a"}}`},
		{"model needing escapes", `{"model":"a"}`, "q\"\\\n\x01é\xff", false, `{"model":"q\"\\\n\u0001é\ufffd"}`},
		{"options added last", `{"model":"a","stream":true}`, "b", true, `{"model":"b","stream":true,"stream_options":{"include_usage":true}}`},
		{"options: usage inserted first", `{"stream_options":{"x":1}}`, "", true, `{"stream_options":{"include_usage":true,"x":1}}`},
		{"options: usage false flipped", `{"stream_options":{"include_usage":false,"x":1}}`, "", true, `{"stream_options":{"include_usage":true,"x":1}}`},
		{"options: empty", `{"stream_options":{}}`, "", true, `{"stream_options":{"include_usage":true}}`},
		{"options: null", `{"stream_options":null}`, "", true, `{"stream_options":{"include_usage":true}}`},
		{"strings with braces", `{"a":"}\"{","model":"x"}`, "y", true, `{"a":"}\"{","model":"y","stream_options":{"include_usage":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, valid := range []bool{false, true} { // checked here, or by the proxy
				got, err := rewriteRequest([]byte(tt.in), valid, tt.model, tt.force)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Fatalf("valid=%v: got  %s\nwant %s", valid, got, tt.want)
				}
				if !json.Valid(got) {
					t.Fatalf("invalid JSON %s", got)
				}
			}
		})
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"model":`, `{"stream_options":1}`, `{"stream_options":[]}`} {
		_, err := rewriteRequest([]byte(bad), false, "m", true)
		var br *provider.BadRequestError
		if !errors.As(err, &br) {
			t.Errorf("%q: err = %v, want *provider.BadRequestError", bad, err)
		}
	}
}

func TestRequestNoCopyWithoutChange(t *testing.T) {
	body := []byte(`{"model":"x","input":"hello"}`)
	tr, _ := New(provider.OpenAIEmbeddings)
	up, err := tr.Request(&provider.Request{API: provider.OpenAIEmbeddings, Body: body, Header: http.Header{}}, "")
	if err != nil || &up.Body[0] != &body[0] {
		t.Fatalf("body copied without a change (%v)", err)
	}
}

func TestStreamErrorHasNoDone(t *testing.T) {
	for _, api := range []provider.API{provider.OpenAIChat, provider.OpenAICompletions, provider.OpenAIResponses} {
		tr, _ := New(api)
		b := tr.StreamError(http.StatusBadGateway, "upstream x failed mid-stream: \"reset\"\n")
		if bytes.Contains(b, []byte("[DONE]")) {
			t.Fatalf("%s: [DONE] after an error: %s", api, b)
		}
		ev, err := sse.NewReader(bytes.NewReader(b)).Next()
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Error *struct{ Message, Type string } `json:"error"`
			Type  string                          `json:"type"`
			Msg   string                          `json:"message"`
		}
		if err := json.Unmarshal(ev.Data, &v); err != nil {
			t.Fatalf("%s: %v in %s", api, err, b)
		}
		msg := v.Msg
		if v.Error != nil {
			msg = v.Error.Message
		}
		if msg != "upstream x failed mid-stream: \"reset\"\n" {
			t.Fatalf("%s: message %q in %s", api, msg, b)
		}
	}
}

// streamBody is a realistic chat stream used by the fuzz seeds and benchmarks.
func streamEvents(t testing.TB) []sse.Event {
	c, err := pairtest.Parse("testdata/openai_openai/chat_stream_tool_calls.txt")
	if err != nil {
		t.Fatal(err)
	}
	rd := sse.NewReader(bytes.NewReader(c.Sections["stream"]))
	var evs []sse.Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func FuzzTranslator(f *testing.F) {
	cases, _ := filepath.Glob("testdata/openai_openai/*.txt")
	for _, file := range cases {
		c, err := pairtest.Parse(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimRight(c.Sections["request"], "\n"), true)
		rd := sse.NewReader(bytes.NewReader(c.Sections["stream"]))
		for range 3 {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			f.Add(ev.Data, false)
		}
	}
	apis := []provider.API{provider.OpenAIChat, provider.OpenAICompletions, provider.OpenAIEmbeddings, provider.OpenAIResponses}
	f.Fuzz(func(t *testing.T, in []byte, stream bool) {
		for _, api := range apis {
			tr, _ := New(api)
			req := &provider.Request{API: api, Body: in, Stream: stream, Header: http.Header{}}
			if up, err := tr.Request(req, "up-model"); err == nil {
				checkRewrite(t, in, up.Body, stream && api != provider.OpenAIEmbeddings && api != provider.OpenAIResponses)
			}
			ch, err := tr.StreamEvent(sse.Event{Data: in})
			if err == nil && len(ch.Data) > 0 {
				ev, rerr := sse.NewReader(bytes.NewReader(ch.Data)).Next()
				if rerr != nil || !bytes.Equal(ev.Data, bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))) {
					t.Fatalf("%s: chunk %q does not carry the event %q", api, ch.Data, in)
				}
			}
			_, _ = tr.StreamEnd()
			_, _, _ = tr.Response(in)
			if b := tr.Error(500, in); !json.Valid(b) {
				t.Fatalf("%s: Error gave invalid JSON %q", api, b)
			}
		}
	})
}

// checkRewrite verifies a rewritten request: valid JSON, the upstream model,
// include_usage on streams, and every other member byte-identical.
func checkRewrite(t *testing.T, in, out []byte, force bool) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("invalid JSON out of %q: %q", in, out)
	}
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(in, &a); err != nil {
		return // e.g. duplicate keys with different types; validity was checked
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	for k, v := range a {
		if k == "model" || force && k == "stream_options" {
			continue
		}
		if !bytes.Equal(b[k], v) {
			t.Fatalf("member %q changed: %s -> %s", k, v, b[k])
		}
	}
	if m := b["model"]; string(m) != `"up-model"` {
		t.Fatalf("model %s in %q", m, out)
	}
	if force {
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if err := json.Unmarshal(b["stream_options"], &so); err != nil || !so.IncludeUsage {
			t.Fatalf("stream_options %s in %q", b["stream_options"], out)
		}
	}
}

// BenchmarkRequest rewrites a short chat request and a long agent-style
// conversation (many turns, tool calls, code in strings).
func BenchmarkRequest(b *testing.B) {
	c, err := pairtest.Parse("testdata/openai_openai/chat.txt")
	if err != nil {
		b.Fatal(err)
	}
	short, _, err := c.Request()
	if err != nil {
		b.Fatal(err)
	}
	var long bytes.Buffer
	long.WriteString(`{"model":"weir-test","stream":true,"messages":[{"role":"system","content":"You are a coding agent."}`)
	for i := range 100 {
		fmt.Fprintf(&long, `,{"role":"user","content":"Fix the bug in main.go, line %d:\n\tfor i := range n {\n\t\tfmt.Println(\"x\", i)\n\t}"}`, i)
		fmt.Fprintf(&long, `,{"role":"assistant","content":null,"tool_calls":[{"id":"call_%d","type":"function","function":{"name":"edit","arguments":"{\"path\":\"main.go\",\"line\":%d}"}}]}`, i, i)
		fmt.Fprintf(&long, `,{"role":"tool","tool_call_id":"call_%d","content":"ok: %s"}`, i, strings.Repeat(`diff line\n`, 20))
	}
	long.WriteString(`],"tools":[{"type":"function","function":{"name":"edit","parameters":{"type":"object"}}}]}`)
	for name, body := range map[string][]byte{"short": short.Body, "long": long.Bytes()} {
		req := &provider.Request{API: provider.OpenAIChat, Body: body, Stream: true, Header: http.Header{}}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(req.Body)))
			b.ReportAllocs()
			for b.Loop() {
				tr, _ := New(provider.OpenAIChat)
				if _, err := tr.Request(req, "gpt-4o-mini"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStreamEvent(b *testing.B) {
	evs := streamEvents(b)
	tr, _ := New(provider.OpenAIChat)
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			if _, err := tr.StreamEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// TestRequestForwardsOpenAIBeta: the client's OpenAI-Beta header goes
// upstream; without it the request carries only its content type.
func TestRequestForwardsOpenAIBeta(t *testing.T) {
	for _, beta := range []string{"", "assistants=v2"} {
		h := http.Header{}
		if beta != "" {
			h.Set("OpenAI-Beta", beta)
		}
		tr := &passthrough{api: provider.OpenAIChat}
		up, err := tr.Request(&provider.Request{API: provider.OpenAIChat, Body: []byte(`{"model":"m"}`), Model: "m", Header: h}, "m")
		if err != nil {
			t.Fatal(err)
		}
		want := http.Header{"Content-Type": {"application/json"}}
		if beta != "" {
			want["Openai-Beta"] = []string{beta}
		}
		if !reflect.DeepEqual(up.Header, want) {
			t.Errorf("OpenAI-Beta %q: upstream header %v, want %v", beta, up.Header, want)
		}
	}
}
