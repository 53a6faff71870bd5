package openai

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// normalize drops nulls, empty arrays and empty objects, which the types
// may legitimately omit or add, so a comparison sees only information.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n := normalize(e); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// TestRoundTrip decodes recorded bodies strictly (every field must be
// modelled) and checks that encoding them again loses nothing.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		file string
		v    any
	}{
		{"chat_request.json", &ChatCompletionRequest{}},
		{"chat_response.json", &ChatCompletion{}},
		{"chat_chunk_tool.json", &ChatCompletionChunk{}},
		{"completion.json", &Completion{}},
		{"embeddings_response.json", &EmbeddingResponse{}},
		{"responses_request.json", &ResponseRequest{}},
		{"response.json", &Response{}},
		{"models.json", &ModelList{}},
		{"error.json", &ErrorResponse{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(in))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var a, b any
			if err := json.Unmarshal(in, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(a), normalize(b)) {
				t.Fatalf("round trip changed the body:\nin:  %s\nout: %s", bytes.Join(bytes.Fields(in), []byte(" ")), out)
			}
		})
	}
}

func TestRequestFieldsCoverStruct(t *testing.T) {
	typ := reflect.TypeFor[ChatCompletionRequest]()
	for i := range typ.NumField() {
		name, _, _ := bytes.Cut([]byte(typ.Field(i).Tag.Get("json")), []byte(","))
		if !ChatRequestFields[string(name)] {
			t.Errorf("field %s (%q) missing from ChatRequestFields", typ.Field(i).Name, name)
		}
	}
	if len(ChatRequestFields) != typ.NumField() {
		t.Errorf("ChatRequestFields has %d keys, the struct %d fields", len(ChatRequestFields), typ.NumField())
	}
}

func TestContent(t *testing.T) {
	tests := []struct {
		in       string
		want     Content
		text     string
		out      string
		wantNull bool
	}{
		{`"hi"`, TextContent("hi"), "hi", `"hi"`, false},
		{`""`, TextContent(""), "", `""`, false},
		{`null`, Content{}, "", `null`, true},
		{`[]`, PartsContent(), "", `[]`, false},
		{`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"b"}]`,
			PartsContent(ContentPart{Type: PartText, Text: "a"}, ContentPart{Type: PartImageURL, ImageURL: &ImageURL{URL: "u"}}, ContentPart{Type: PartText, Text: "b"}),
			"ab", `[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"b"}]`, false},
		{`[{"type":"text","text":""}]`, PartsContent(ContentPart{Type: PartText}), "", `[{"type":"text","text":""}]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c Content
			if err := json.Unmarshal([]byte(tt.in), &c); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("decoded %+v, want %+v", c, tt.want)
			}
			if c.JoinText() != tt.text || c.IsNull() != tt.wantNull {
				t.Fatalf("JoinText %q IsNull %v", c.JoinText(), c.IsNull())
			}
			out, err := json.Marshal(c)
			if err != nil || string(out) != tt.out {
				t.Fatalf("encoded %s %v, want %s", out, err, tt.out)
			}
		})
	}
	for _, bad := range []string{`1`, `{}`, `true`, `[1]`} {
		var c Content
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("content %s accepted", bad)
		}
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct{ in, code, out string }{
		{`{"error":{"message":"m","type":"t","param":null,"code":"rate_limit_exceeded"}}`, "rate_limit_exceeded", `{"error":{"message":"m","type":"t","param":null,"code":"rate_limit_exceeded"}}`},
		{`{"error":{"message":"m","type":"BadRequestError","param":null,"code":400}}`, "400", `{"error":{"message":"m","type":"BadRequestError","param":null,"code":"400"}}`},
		{`{"error":{"message":"m","type":"t"}}`, "", `{"error":{"message":"m","type":"t","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		var e ErrorResponse
		if err := json.Unmarshal([]byte(tt.in), &e); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if string(e.Error.Code) != tt.code {
			t.Fatalf("%s: code %q", tt.in, e.Error.Code)
		}
		if out, _ := json.Marshal(e); string(out) != tt.out {
			t.Fatalf("%s: encoded %s", tt.in, out)
		}
	}
	var e ErrorResponse
	if err := json.Unmarshal([]byte(`{"error":{"code":{}}}`), &e); err == nil {
		t.Fatal("object code accepted")
	}
}

func TestMarshalError(t *testing.T) {
	got := string(MarshalError("bad \"x\"\n\xff <>", ErrorType(429), ""))
	want := `{"error":{"message":"bad \"x\"\n\ufffd <>","type":"rate_limit_error","param":null,"code":null}}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	for status, typ := range map[int]string{400: ErrInvalidRequest, 401: ErrAuthentication, 403: ErrPermission, 404: ErrInvalidRequest, 429: ErrRateLimit, 502: ErrAPI} {
		if got := ErrorType(status); got != typ {
			t.Errorf("ErrorType(%d) = %s, want %s", status, got, typ)
		}
	}
}

func TestUsageHelpers(t *testing.T) {
	u := Usage{PromptCacheHitTokens: 5}
	if u.CachedTokens() != 5 || u.ReasoningTokens() != 0 {
		t.Fatalf("deepseek usage: %d %d", u.CachedTokens(), u.ReasoningTokens())
	}
	u = Usage{PromptTokensDetails: &PromptTokensDetails{CachedTokens: 7}, CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: 3}}
	if u.CachedTokens() != 7 || u.ReasoningTokens() != 3 {
		t.Fatalf("openai usage: %d %d", u.CachedTokens(), u.ReasoningTokens())
	}
}

func FuzzContent(f *testing.F) {
	for _, s := range []string{`"x"`, `null`, `[{"type":"text","text":"a"}]`, `[{"type":"image_url","image_url":{"url":"u","detail":"low"}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Content
		if json.Unmarshal(in, &c) != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %+v: %v", c, err)
		}
		var back Content
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("reparse %s: %v", out, err)
		}
		if back.JoinText() != c.JoinText() || back.IsNull() != c.IsNull() || back.IsString != c.IsString || len(back.Parts) != len(c.Parts) {
			t.Fatalf("round trip %s -> %s changed the content", in, out)
		}
	})
}
