package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad checks that no input makes Load panic or hang, that a rejected
// input always comes back as problems, and that an accepted config is
// stable: it passes validation again, its defaults are a fixed point and it
// renders for /config.
func FuzzLoad(f *testing.F) {
	f.Add(Default())
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "version: 1", "version: 1\nlisteners: []\n", "version: 1\nx: &a [*a]\n",
		"version: 1\nlog: &l {level: info}\nretry: *l\n", "version: 1\nlog: {<<: {level: warn}}\n",
		"version: 1\nproviders: [{name: p, type: offline}]\nmodels: [{name: '*', targets: [{provider: p, weight: 0}, {provider: p, priority: 1}]}]\n",
		"version: ${V:-1}\nadmin: {address: '${A}'}\n", "version: 1\ntenants: [{name: t, keys: [{env: K}], sources: ['::/0']}]\n",
		"version: !!binary AQ==\n", "? [a]\n: b\n", "version: 1\n---\n", "\t", "version: 1\nlog: {level: \"\\u0000\"}\n",
	} {
		f.Add([]byte(s))
	}
	env := envMap(map[string]string{"V": "1", "A": "127.0.0.1:1", "K": "tenant-key", "UPSTREAM_KEY": "u", "ANTHROPIC_API_KEY": "a", "TEAM_A_KEY": "t"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadWith(data, env)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("rejected without problems: %T %v", err, err)
			}
			for _, p := range ve.Problems {
				if p.Message == "" {
					t.Fatalf("problem without a message at %q", p.Path)
				}
			}
			return
		}
		if ps := check(c); len(ps) != 0 {
			t.Fatalf("accepted config fails validation again: %v", &ValidationError{Problems: ps})
		}
		again, err := LoadWith(data, env)
		if err != nil {
			t.Fatalf("second load failed: %v", err)
		}
		applyDefaults(again, func(string) bool { return true })
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("defaults are not a fixed point:\n%+v\n%+v", c, again)
		}
		for i, tn := range c.Tenants {
			if _, err := tn.KeyDigests(); err != nil {
				t.Fatalf("tenants[%d]: %v", i, err)
			}
		}
		out, err := c.Redacted()
		if err != nil || !json.Valid(out) {
			t.Fatalf("Redacted: %v", err)
		}
	})
}
