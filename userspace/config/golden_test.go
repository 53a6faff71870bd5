package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEnv is the environment the golden files are loaded with.
var goldenEnv = envMap(map[string]string{
	"UPSTREAM_KEY":      "sk-upstream",
	"ANTHROPIC_API_KEY": "sk-ant",
	"TEAM_A_KEY":        "team-a-key",
})

func compareGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestInvalidGolden loads each testdata/invalid/NAME.yaml and compares
// every problem, one per line, with NAME.golden.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// TEAM_A_KEY is deliberately unset here.
			_, err = LoadWith(src, envMap(map[string]string{}))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			compareGolden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(ve.Error()+"\n"))
		})
	}
}

// TestDefaultsGolden shows every default: a minimal file rendered as /config.
func TestDefaultsGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/defaults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadWith(src, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "testdata/defaults.golden", append(out, '\n'))
}

func TestValidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := LoadWith(src, goldenEnv); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	// The default config must load with an empty environment: it is what
	// weir runs on a machine where nothing is set up.
	c, err := LoadWith(Default(), envMap(nil))
	if err != nil {
		t.Fatalf("embedded default.yaml does not load:\n%v", err)
	}
	if len(c.Listeners) != 1 || !reflect.DeepEqual(c.Listeners[0], Listener{Name: "public", Address: ":8080"}) {
		t.Errorf("listeners = %+v", c.Listeners)
	}
	if c.Admin.Address != "127.0.0.1:9901" {
		t.Errorf("admin = %q", c.Admin.Address)
	}
	if len(c.Providers) != 1 || c.Providers[0].Name != "offline" || c.Providers[0].Type != "offline" {
		t.Errorf("providers = %+v", c.Providers)
	}
	var names []string
	for _, m := range c.Models {
		names = append(names, m.Name)
		if len(m.Targets) != 1 || m.Targets[0].Provider != "offline" || m.Targets[0].Model != "weir-offline" {
			t.Errorf("model %q targets = %+v", m.Name, m.Targets)
		}
	}
	if strings.Join(names, ",") != "weir-test,*" {
		t.Errorf("models = %q", names)
	}
	if len(c.Tenants) != 0 || c.RateLimit.Backend != "local" || c.Dataplane.Mode != "auto" {
		t.Errorf("tenants %d, ratelimit %q, dataplane %q", len(c.Tenants), c.RateLimit.Backend, c.Dataplane.Mode)
	}
	// Default hands out a copy.
	d := Default()
	d[0] = '!'
	if Default()[0] == '!' {
		t.Error("Default returns the embedded slice itself")
	}
}

func TestLoadFile(t *testing.T) {
	good := writeFile(t, "ok.yaml", string(Default()))
	if _, err := LoadFile(good); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "load config: open ") {
		t.Errorf("missing file: %v", err)
	}
	bad := writeFile(t, "bad.yaml", "version: 2\n")
	var ve *ValidationError
	if _, err := LoadFile(bad); !errors.As(err, &ve) || ve.Error() != "version: unsupported version 2 (must be 1) (line 1)" {
		t.Errorf("bad file: %v", err)
	}
}
