package gemini

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/anthropic/pairtest"
)

var _ = flag.Bool("update", false, "rewrite the golden sections of testdata cases")

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

func TestOpenAIToGeminiGolden(t *testing.T) {
	pairtest.RunChecked(t, "testdata/openai_gemini", New)
}

func TestAnthropicToGeminiGolden(t *testing.T) {
	pairtest.RunChecked(t, "testdata/anthropic_gemini", New)
}

func FuzzOpenAIToGemini(f *testing.F) {
	pairtest.Fuzz(f, "testdata/openai_gemini", New, provider.OpenAIChat)
}

func FuzzAnthropicToGemini(f *testing.F) {
	pairtest.Fuzz(f, "testdata/anthropic_gemini", New, provider.AnthropicMessages)
}

func BenchmarkOpenAIToGemini(b *testing.B) {
	b.Run("tools", func(b *testing.B) { pairtest.Benchmark(b, "testdata/openai_gemini/tools_images.txt", New) })
	b.Run("stream", func(b *testing.B) { pairtest.Benchmark(b, "testdata/openai_gemini/stream.txt", New) })
}

func BenchmarkAnthropicToGemini(b *testing.B) {
	b.Run("claude_code", func(b *testing.B) { pairtest.Benchmark(b, "testdata/anthropic_gemini/claude_code.txt", New) })
	b.Run("stream", func(b *testing.B) { pairtest.Benchmark(b, "testdata/anthropic_gemini/stream.txt", New) })
}
