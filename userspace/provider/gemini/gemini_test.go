package gemini

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/providertest"
	schema "github.com/weir-gateway/weir/userspace/schema/gemini"
)

var _ = flag.Bool("update", false, "rewrite the golden sections of testdata cases")

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

func TestOpenAIToGeminiGolden(t *testing.T) {
	providertest.RunChecked(t, "testdata/openai_gemini", New)
}

func TestAnthropicToGeminiGolden(t *testing.T) {
	providertest.RunChecked(t, "testdata/anthropic_gemini", New)
}

func FuzzOpenAIToGemini(f *testing.F) {
	providertest.Fuzz(f, "testdata/openai_gemini", New, provider.OpenAIChat)
}

func FuzzAnthropicToGemini(f *testing.F) {
	providertest.Fuzz(f, "testdata/anthropic_gemini", New, provider.AnthropicMessages)
}

func BenchmarkOpenAIToGemini(b *testing.B) {
	b.Run("tools", func(b *testing.B) { providertest.Benchmark(b, "testdata/openai_gemini/tools_images.txt", New) })
	b.Run("stream", func(b *testing.B) { providertest.Benchmark(b, "testdata/openai_gemini/stream.txt", New) })
}

func BenchmarkAnthropicToGemini(b *testing.B) {
	b.Run("claude_code", func(b *testing.B) { providertest.Benchmark(b, "testdata/anthropic_gemini/claude_code.txt", New) })
	b.Run("stream", func(b *testing.B) { providertest.Benchmark(b, "testdata/anthropic_gemini/stream.txt", New) })
}

func TestNewUnknownAPI(t *testing.T) {
	for _, api := range []provider.API{provider.OpenAIEmbeddings, provider.OpenAICompletions, provider.OpenAIResponses} {
		if _, err := New(api); err == nil {
			t.Errorf("%s: no error", api)
		}
	}
	a, _ := New(provider.OpenAIChat)
	b, _ := New(provider.OpenAIChat)
	if a == b {
		t.Fatal("New returned a shared translator")
	}
}

func TestCallIDSignatureRoundTrip(t *testing.T) {
	ids := callIDs{responseID: "r"}
	fc := &schema.FunctionCall{Name: "f", Args: []byte(`{"a":1}`)}
	id := ids.next(fc, "CiQB+/x==")
	if again := (&callIDs{responseID: "r"}).next(fc, "CiQB+/x=="); again != id {
		t.Fatalf("ids not deterministic: %s vs %s", id, again)
	}
	if ids.next(fc, "") == id {
		t.Fatal("the second call of an answer got the first one's id")
	}
	if got := signatureOf(id); got != "CiQB+/x==" {
		t.Fatalf("signature %q", got)
	}
	for _, r := range id {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			t.Fatalf("id %q has %q, outside Anthropic's id alphabet", id, r)
		}
	}
	if signatureOf("toolu_01") != "" || signatureOf("call_x__ts__!!") != "" {
		t.Fatal("a signature from an id without one")
	}
}
