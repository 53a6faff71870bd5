package config_test

import (
	"fmt"

	"github.com/weir-gateway/weir/userspace/config"
)

func ExampleLoad() {
	cfg, err := config.Load([]byte(`
version: 1
providers:
  - {name: local, type: openai, base_url: "http://127.0.0.1:11434/v1"}
models:
  - name: "llama*"
    targets: [{provider: local}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Listeners[0].Name, cfg.Listeners[0].Address, cfg.Retry.MaxAttempts, cfg.Models[0].Targets[0].Weight)

	_, err = config.Load([]byte(`
version: 1
providers:
  - {name: local, type: openai, base_url: "http://127.0.0.1:11434/v1"}
models:
  - name: "llama*"
    targets: [{provider: remote, weight: -1}]
`))
	fmt.Println(err)
	// Output:
	// public :8080 3 1
	// models[0].targets[0].provider: unknown provider "remote" (line 7)
	// models[0].targets[0].weight: must be 0 or more, got -1 (line 7)
}
