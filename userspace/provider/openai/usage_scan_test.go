package openai

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/weir-gateway/weir/userspace/schema/openai"
)

var usageSeeds = []string{
	`{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}`,
	`{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":1,"rejected_prediction_tokens":0}}`,
	`{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":null,"prompt_cache_hit_tokens":9}`,
	`{"prompt_tokens":null,"completion_tokens":"5"}`,
	`{"prompt_tokens":1.5}`,
	`{"Prompt_Tokens":4,"prompt_tokens":3}`,
	`{"pr\u006fmpt_tokens":4}`,
	`{"prompt_tokens_details":{"cached_tokens":1},"prompt_tokens_details":{"audio_tokens":2}}`,
	`{"prompt_tokens_details":{"CACHED_TOKENS":1,"other":"x"}}`,
	`{"prompt_tokens_details":[1]}`,
	`{"extra":{"nested":[1,2]},"total_tokens":-3}`,
	`[]`, `"x"`, `{}`,
}

// TestScanUsageMatchesDecode checks the usage scan against json.Unmarshal:
// where it reads a usage object, it reads what the decoder does.
func TestScanUsageMatchesDecode(t *testing.T) {
	for _, s := range usageSeeds {
		t.Run(s, func(t *testing.T) { checkUsage(t, s) })
	}
}

func checkUsage(t *testing.T, s string) {
	t.Helper()
	if !json.Valid([]byte(s)) {
		return
	}
	var scanned scannedUsage
	if !scanUsage([]byte(s), &scanned) {
		return
	}
	got := scanned.usage()
	var want openai.Usage
	if err := json.Unmarshal([]byte(s), &want); err != nil {
		t.Fatalf("%s: scanned %+v, but the decoder fails: %v", s, got, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: scanned %+v, decoded %+v", s, got, want)
	}
	// recordUsage reads the scan's flags as openai.Usage's methods read
	// its pointers.
	var scan, decode passthrough
	if err := scan.recordUsage([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := decode.decodeUsage([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if scan.usage != decode.usage {
		t.Fatalf("%s: recorded %+v, decoded %+v", s, scan.usage, decode.usage)
	}
}

func TestRecordUsageAllocs(t *testing.T) {
	v := []byte(usageSeeds[1])
	var p passthrough
	if n := testing.AllocsPerRun(100, func() { _ = p.recordUsage(v) }); n != 0 {
		t.Errorf("recordUsage allocated %.1f times, want 0", n)
	}
	if p.usage.CachedInputTokens != 3 || p.usage.ReasoningTokens != 2 {
		t.Errorf("usage %+v, want 3 cached and 2 reasoning tokens", p.usage)
	}
}

// FuzzScanUsageMatchesDecode is TestScanUsageMatchesDecode on arbitrary input.
func FuzzScanUsageMatchesDecode(f *testing.F) {
	for _, s := range usageSeeds {
		f.Add(s)
	}
	f.Fuzz(checkUsage)
}

// TestRewriteRequestWithoutChange checks that a body that already names the
// upstream model and asks for usage is passed on as the client's own slice
// (no copy), and that anything else is still rewritten.
func TestRewriteRequestWithoutChange(t *testing.T) {
	tests := []struct {
		name, body, model string
		force, same       bool
		want              string
	}{
		{"same model", `{"model":"gpt-4o","messages":[]}`, "gpt-4o", false, true, `{"model":"gpt-4o","messages":[]}`},
		{"same model, usage already on", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, "m", true, true,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"usage off", `{"model":"m","stream_options":{"include_usage":false}}`, "m", true, false,
			`{"model":"m","stream_options":{"include_usage":true}}`},
		{"other model", `{"model":"alias"}`, "gpt-4o", false, false, `{"model":"gpt-4o"}`},
		{"escaped spelling of the same model", `{"model":"gpt\u002d4o"}`, "gpt-4o", false, false, `{"model":"gpt-4o"}`},
		{"model needing escapes", `{"model":"a\"b"}`, `a"b`, false, false, `{"model":"a\"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.body)
			out, err := rewriteRequest(in, false, tt.model, tt.force)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("rewriteRequest = %s, want %s", out, tt.want)
			}
			if same := &out[0] == &in[0]; same != tt.same {
				t.Fatalf("client slice passed on: %v, want %v", same, tt.same)
			}
		})
	}
}
