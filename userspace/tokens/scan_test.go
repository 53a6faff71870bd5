package tokens

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
)

// decodedEstimate is the estimate as it was before the scan: the body and
// every field decoded with encoding/json, text counted by walk. It is the
// reference the scan must match.
func decodedEstimate(api provider.API, model string, raw []byte) (Count, error) {
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return Count{}, err
	}
	c := newCounter(model)
	var fixed int64
	value := func(raw json.RawMessage, tokenArrays bool) error {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		fixed += c.walk(v, tokenArrays)
		return nil
	}
	messages := func(raw json.RawMessage) error {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		var msgs []any
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return err
		}
		for _, m := range msgs {
			fixed += MessageTokens
			if obj, ok := m.(map[string]any); ok {
				if _, named := obj["name"]; named {
					fixed += NameTokens
				}
			}
			fixed += c.walk(m, false)
		}
		return nil
	}
	schema := func(raw json.RawMessage) {
		if len(raw) > 0 && string(raw) != "null" {
			c.text(string(raw))
		}
	}
	var err error
	var out *int64
	switch api {
	case provider.OpenAIChat:
		err = messages(b.Messages)
		schema(b.Tools)
		schema(b.Functions)
		schema(b.ResponseFormat)
		fixed += ReplyTokens
		out = first(b.MaxCompletionTokens, b.MaxTokens)
	case provider.OpenAIResponses:
		if len(b.Input) > 0 && b.Input[0] == '[' {
			err = messages(b.Input)
		} else {
			err = value(b.Input, false)
			fixed += MessageTokens
		}
		if err == nil {
			err = value(b.Instructions, false)
		}
		schema(b.Tools)
		schema(b.Text)
		fixed += ReplyTokens
		out = b.MaxOutputTokens
	case provider.OpenAICompletions:
		if err = value(b.Prompt, true); err == nil {
			err = value(b.Suffix, false)
		}
		out = b.MaxTokens
	case provider.AnthropicMessages:
		if err = value(b.System, false); err == nil {
			err = messages(b.Messages)
		}
		schema(b.Tools)
		fixed += ReplyTokens
		out = b.MaxTokens
	default:
		return Count{}, fmt.Errorf("api %s not in the reference", api)
	}
	if err != nil {
		return Count{}, err
	}
	output, err := outputTokens(out, b.N)
	if err != nil {
		return Count{}, err
	}
	return Count{Prompt: c.total() + fixed, Output: output, Method: c.method()}, nil
}

var scanAPIs = []provider.API{provider.OpenAIChat, provider.OpenAICompletions, provider.OpenAIResponses, provider.AnthropicMessages}

var scanSeeds = []string{
	`{"model":"x","messages":[{"role":"system","content":"You are terse."},{"role":"user","name":"bob","content":"Hi there"}],"max_completion_tokens":100,"n":2}`,
	`{"messages":[{"role":"user","content":"line\nbreak \"quoted\" \u00e9\u4f60 \ud83d\ude00 \ud800 tab\t\/"}]}`,
	"{\"messages\":[{\"role\":\"user\",\"content\":\"bad utf8 \xff\xfe here \x80\"}]}",
	`{"messages":[{"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image_url","image_url":{"url":"https://x"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image","type":"text","text":"dup type"}]}]}`,
	`{"messages":[{"role":"user","content":"a","content":"second wins"}]}`,
	`{"messages":[{"r\u006fle":"user","n\u0061me":"x","content":"escaped keys"}]}`,
	`{"Messages":[{"role":"user","content":"case-insensitive field"}],"MAX_TOKENS":3}`,
	`{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"calc","input":{"z":1,"a":[true,null,"<&>"]}}]}],"max_tokens":9}`,
	`{"prompt":[[1,2],[3]],"suffix":"end","n":3,"max_tokens":null}`,
	`{"prompt":"data:image/png;base64,AAAA","max_tokens":1e2}`,
	`{"input":[{"type":"message","content":[{"type":"input_text","text":"x"}]},{"type":"function_call_output","call_id":"c","output":"42"}],"instructions":"be brief","max_output_tokens":7}`,
	`{"input":"just a string","text":{"format":{"type":"text"}}}`,
	`{"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`,
	`  {  "messages" : [ { "role" : "user" , "content" : [ "a" , 1 , true , null , { } , [ ] ] } ] , "n" : 1 }  `,
	`{"messages":[],"tools":[{"type":"function"}],"functions":null,"response_format":{"type":"json_object"}}`,
	`{"messages":"not a list"}`,
	`[1,2]`,
	`null`,
	`{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}`,
}

// TestScanMatchesDecode checks the scan against the decoding reference,
// including inputs the scan hands to the decoder (duplicate or escaped
// keys, field names in another case, non-integer limits, bad UTF-8).
func TestScanMatchesDecode(t *testing.T) {
	warm(t)
	big := make([]string, 0, 70)
	for i := range 70 {
		big = append(big, fmt.Sprintf(`"k%d":"v%d"`, i, i))
	}
	seeds := append(scanSeeds, `{"messages":[{"role":"user","content":"x",`+strings.Join(big, ",")+`}]}`)
	for _, model := range []string{"gpt-4o", "claude-sonnet-4-5"} {
		for _, api := range scanAPIs {
			for i, s := range seeds {
				t.Run(fmt.Sprintf("%s/%s/%d", model, api, i), func(t *testing.T) {
					checkScan(t, api, model, s)
				})
			}
		}
	}
}

func checkScan(t *testing.T, api provider.API, model, s string) {
	t.Helper()
	want, werr := decodedEstimate(api, model, []byte(s))
	got, gerr := estimate(api, model, []byte(s), true)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: error %v, reference error %v", s, gerr, werr)
	}
	if werr == nil && got != want {
		t.Fatalf("%s: scan %+v, reference %+v", s, got, want)
	}
}

// FuzzScanMatchesDecode checks the scan against the decoding reference on
// arbitrary bodies (within ExactBytes, where walk's map order cannot matter).
func FuzzScanMatchesDecode(f *testing.F) {
	for i, s := range scanSeeds {
		f.Add(uint8(i), s)
	}
	warm(f)
	f.Fuzz(func(t *testing.T, api uint8, body string) {
		if len(body) > ExactBytes/2 {
			return
		}
		checkScan(t, scanAPIs[int(api)%len(scanAPIs)], "gpt-4o", body)
	})
}

// FuzzEstimateValid checks that EstimateValid, which trusts its caller to
// have validated the body, neither panics nor hangs on a body that is not
// valid JSON, and equals Estimate on one that is.
func FuzzEstimateValid(f *testing.F) {
	for i, s := range scanSeeds {
		f.Add(uint8(i), s)
	}
	f.Add(uint8(0), `{"messages":[{"role":"user","content":"x`)
	f.Add(uint8(0), `{"messages":[}`+strings.Repeat("[", 20000))
	f.Add(uint8(1), `{"prompt":[1,}],"n":"`)
	warm(f)
	f.Fuzz(func(t *testing.T, api uint8, body string) {
		a := apis[int(api)%len(apis)]
		got, gerr := EstimateValid(a, "gpt-4o", []byte(body))
		if got.Prompt < 0 || got.Output < 0 {
			t.Fatalf("negative count %+v (err %v)", got, gerr)
		}
		if !json.Valid([]byte(body)) {
			return
		}
		want, werr := Estimate(a, "gpt-4o", []byte(body))
		if got != want || (gerr == nil) != (werr == nil) {
			t.Fatalf("EstimateValid = %+v, %v; Estimate = %+v, %v", got, gerr, want, werr)
		}
	})
}
