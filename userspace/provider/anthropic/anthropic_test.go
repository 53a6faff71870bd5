package anthropic

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/providertest"
)

var _ = flag.Bool("update", false, "rewrite the golden sections of testdata cases")

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

func TestAnthropicPassthroughGolden(t *testing.T) {
	providertest.RunChecked(t, "testdata/anthropic_anthropic", New)
}

func TestOpenAIToAnthropicGolden(t *testing.T) {
	providertest.RunChecked(t, "testdata/openai_anthropic", New)
}

func FuzzAnthropicPassthrough(f *testing.F) {
	providertest.Fuzz(f, "testdata/anthropic_anthropic", New, provider.AnthropicMessages)
}

func FuzzOpenAIToAnthropic(f *testing.F) {
	providertest.Fuzz(f, "testdata/openai_anthropic", New, provider.OpenAIChat)
}

func BenchmarkAnthropicPassthrough(b *testing.B) {
	providertest.Benchmark(b, "testdata/anthropic_anthropic/stream.txt", New)
}

func BenchmarkOpenAIToAnthropic(b *testing.B) {
	providertest.Benchmark(b, "testdata/openai_anthropic/tools_images.txt", New)
	b.Run("stream", func(b *testing.B) { providertest.Benchmark(b, "testdata/openai_anthropic/stream.txt", New) })
}

func TestNewUnknownAPI(t *testing.T) {
	for _, api := range []provider.API{provider.OpenAIEmbeddings, provider.OpenAICompletions, provider.OpenAIResponses} {
		if _, err := New(api); err == nil {
			t.Errorf("%s: no error", api)
		}
	}
	a, _ := New(provider.AnthropicMessages)
	b, _ := New(provider.AnthropicMessages)
	if a == b {
		t.Fatal("New returned a shared translator")
	}
}
