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
	var got openai.Usage
	if !scanUsage([]byte(s), &got) {
		return
	}
	var want openai.Usage
	if err := json.Unmarshal([]byte(s), &want); err != nil {
		t.Fatalf("%s: scanned %+v, but the decoder fails: %v", s, got, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: scanned %+v, decoded %+v", s, got, want)
	}
}

// FuzzScanUsageMatchesDecode is TestScanUsageMatchesDecode on arbitrary input.
func FuzzScanUsageMatchesDecode(f *testing.F) {
	for _, s := range usageSeeds {
		f.Add(s)
	}
	f.Fuzz(checkUsage)
}
