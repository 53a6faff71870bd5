package main

import (
	"os"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

// TestReadmeConfigsValidate keeps the README honest: every YAML block that is
// a whole config (starts with "version: 1") must load.
func TestReadmeConfigsValidate(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```yaml\n")[1:]
	n := 0
	for _, blk := range blocks {
		blk, _, _ = strings.Cut(blk, "```")
		if !strings.HasPrefix(blk, "version: 1") {
			continue
		}
		n++
		_, err := config.LoadWith([]byte(blk), config.Options{LookupEnv: func(string) (string, bool) { return "placeholder", true }})
		if err != nil {
			t.Errorf("README config block %d does not load:\n%v\n%s", n, err, blk)
		}
	}
	if n == 0 {
		t.Fatal("no full config block found in README.md")
	}
}
