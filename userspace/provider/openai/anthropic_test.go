package openai

import (
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
	pairtest "github.com/weir-gateway/weir/userspace/provider/providertest"
)

func TestAnthropicToOpenAIGolden(t *testing.T) {
	pairtest.RunChecked(t, "testdata/anthropic_openai", New)
}

func FuzzAnthropicToOpenAI(f *testing.F) {
	pairtest.Fuzz(f, "testdata/anthropic_openai", New, provider.AnthropicMessages)
}

func BenchmarkAnthropicToOpenAI(b *testing.B) {
	b.Run("claude_code", func(b *testing.B) { pairtest.Benchmark(b, "testdata/anthropic_openai/claude_code.txt", New) })
	b.Run("stream", func(b *testing.B) { pairtest.Benchmark(b, "testdata/anthropic_openai/stream_tools.txt", New) })
}
