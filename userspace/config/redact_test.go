package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestSecretsNeverShown loads a config holding every kind of secret and
// checks that none of the clear values appears in /config output, in any
// fmt rendering of the Config, or in YAML and JSON marshalling.
func TestSecretsNeverShown(t *testing.T) {
	secrets := map[string]string{
		"OPENAI_KEY":  "sk-env-0123456789",
		"HEADER_TOK":  "hdr-secret-4242",
		"REDIS_PASS":  "redis-pass-7777",
		"TEAM_KEY":    "tenant-clear-key-31337",
		"ANTHROPIC_K": "sk-ant-abcdef",
	}
	keyFile := writeFile(t, "key", "sk-file-98765\n")
	fileSecret := "sk-file-98765"
	shaKey := digestHex("tenant-sha-key")
	src := `version: 1
providers:
  - name: o
    type: openai
    base_url: https://api.example.com/v1
    api_key: ${OPENAI_KEY}
    headers: {x-token: "${HEADER_TOK}", x-inline: inline-header-secret}
  - name: a
    type: anthropic
    api_key: ${ANTHROPIC_K}
  - name: f
    type: openai
    base_url: https://b.example.com/v1
    api_key_file: ` + keyFile + `
models: [{name: m, targets: [{provider: o}, {provider: a}, {provider: f}]}]
tenants:
  - name: t
    keys: [{env: TEAM_KEY}, {sha256: "` + shaKey + `"}]
ratelimit: {backend: redis, redis: {address: "127.0.0.1:6379", password: "${REDIS_PASS}"}}
`
	c, err := LoadWith([]byte(src), envMap(secrets))
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers[0].APIKey.Value() != secrets["OPENAI_KEY"] || c.Providers[2].APIKey.Value() != fileSecret {
		t.Fatal("secrets were not loaded; the test would prove nothing")
	}
	redacted, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(redacted) {
		t.Fatalf("Redacted is not JSON: %s", redacted)
	}
	yamlOut, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	jsonOut, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"Redacted": string(redacted),
		"%v":       fmt.Sprintf("%v", c),
		"%+v":      fmt.Sprintf("%+v", c),
		"%#v":      fmt.Sprintf("%#v", c),
		"%v deref": fmt.Sprintf("%v", *c),
		"%s":       fmt.Sprintf("%s", c.Providers),
		"yaml":     string(yamlOut),
		"json":     string(jsonOut),
	}
	clear := []string{fileSecret, "inline-header-secret"}
	for _, v := range secrets {
		clear = append(clear, v)
	}
	for name, out := range outputs {
		for _, s := range clear {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains the secret %q", name, s)
			}
		}
	}
	if strings.Contains(string(redacted), shaKey) {
		t.Error("Redacted shows a tenant key digest")
	}
	if n := strings.Count(string(redacted), `"[redacted]"`); n != 7 {
		t.Errorf("Redacted has %d redacted values, want 7 (3 api keys, 2 headers, 1 password, 1 digest):\n%s", n, redacted)
	}
	// Redacted must not modify the config it renders.
	if c.Tenants[0].Keys[1].SHA256 != shaKey {
		t.Error("Redacted changed the config")
	}
}
