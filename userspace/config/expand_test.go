package config

import (
	"slices"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "REF": "${A}", "PORT": "8080"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${A}${A}", want: "alphaalpha"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET:-dflt}", want: "dflt"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${A:-dflt}", want: "alpha"},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-a b:c}", want: "a b:c"},
		{in: "$${A}", want: "${A}"},
		{in: "$$${A}", want: "$${A}"}, // "$" then the "$${" escape
		{in: "cost $5", want: "cost $5"},
		{in: "$", want: "$"},
		{in: "$$", want: "$$"},
		{in: "${REF}", want: "${A}"}, // single pass: a value is never expanded again
		{in: "${UNSET}", err: "environment variable UNSET is not set"},
		{in: "${}", err: `invalid environment variable reference "${}" (use ${NAME} or ${NAME:-default})`},
		{in: "${1A}", err: `invalid environment variable reference "${1A}" (use ${NAME} or ${NAME:-default})`},
		{in: "${A-b}", err: `invalid environment variable reference "${A-b}" (use ${NAME} or ${NAME:-default})`},
		{in: "${A", err: `unterminated "${" (write "$${" for a literal "${")`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandEnv(tt.in, lookup)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("expandEnv(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestLoadExpandsValues(t *testing.T) {
	env := map[string]string{
		"PORT":     "9000",
		"BODY":     "1024",
		"KEY":      "sk-test",
		"INJECT":   "x\nmodels: []\n", // must stay one scalar value
		"H3":       "true",
		"DEADLINE": "2m",
	}
	src := `version: 1
listeners:
  - name: a
    address: :${PORT}
    tls:
      self_signed: ${H3}
    http3: ${H3}
server:
  max_body_bytes: ${BODY}
retry: {deadline: "${DEADLINE}"}
providers:
  - {name: p, type: openai, base_url: "http://${HOST:-127.0.0.1}:1/v1", api_key: "${KEY}", api_version: "$${literal}"}
models: [{name: m, targets: [{provider: p, model: "${INJECT}"}]}]
`
	c, err := LoadWith([]byte(src), envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Providers[0]
	switch {
	case c.Listeners[0].Address != ":9000":
		t.Errorf("address = %q", c.Listeners[0].Address)
	case !c.Listeners[0].HTTP3:
		t.Error("http3 not expanded to true")
	case c.Server.MaxBodyBytes != 1024:
		t.Errorf("max_body_bytes = %d", c.Server.MaxBodyBytes)
	case c.Retry.Deadline.D().String() != "2m0s":
		t.Errorf("deadline = %s", c.Retry.Deadline)
	case p.BaseURL != "http://127.0.0.1:1/v1":
		t.Errorf("base_url = %q", p.BaseURL)
	case p.APIKey.Value() != "sk-test":
		t.Errorf("api_key not expanded")
	case p.APIVersion != "${literal}":
		t.Errorf("api_version = %q, want the escaped literal", p.APIVersion)
	case len(c.Models) != 1 || c.Models[0].Targets[0].Model != env["INJECT"]:
		t.Errorf("an environment value changed the structure: %+v", c.Models)
	}
}

func TestLoadEnvProblems(t *testing.T) {
	src := `version: 1
listeners: [{name: a, address: "${ADDR}"}]
server: {max_body_bytes: "${SECRETISH}"}
providers:
  - {name: p, type: openai, base_url: "http://127.0.0.1:1/v1", api_key: "${OPENAI_API_KEY}"}
models: [{name: m, targets: [{provider: p}]}]
`
	env := map[string]string{"SECRETISH": "sk-live-do-not-print"}
	got := problemsOf(t, src, envMap(env))
	want := []string{
		"listeners[0].address: environment variable ADDR is not set",
		`server.max_body_bytes: expected an integer, got a value (from "${SECRETISH}"; value not shown)`,
		"providers[0].api_key: environment variable OPENAI_API_KEY is not set",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestLoadDefaultsToOSEnv(t *testing.T) {
	t.Setenv("WEIR_TEST_BASE", "http://127.0.0.1:7/v1")
	c, err := Load([]byte(doc(map[string]string{"providers": `[{name: p, type: openai, base_url: "${WEIR_TEST_BASE}"}]`})))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers[0].BaseURL; got != "http://127.0.0.1:7/v1" {
		t.Errorf("base_url = %q", got)
	}
}
