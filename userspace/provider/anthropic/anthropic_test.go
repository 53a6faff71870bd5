package anthropic

import (
	"flag"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider/anthropic/pairtest"
)

var update = flag.Bool("update", false, "rewrite the golden sections of testdata cases")

var _ = update

func TestAnthropicPassthroughGolden(t *testing.T) {
	pairtest.Run(t, "testdata/anthropic_anthropic", New)
}
