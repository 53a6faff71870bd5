package config

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestKeyDigests(t *testing.T) {
	src := doc(map[string]string{"tenants": `[{name: a, keys: [{sha256: "` + strings.ToUpper(digestHex("key-1")) + `"}, {env: TEAM_KEY}]}]`})
	c, err := LoadWith([]byte(src), envMap(map[string]string{"TEAM_KEY": "key-2"}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Tenants[0].KeyDigests()
	if err != nil {
		t.Fatal(err)
	}
	want := [][32]byte{sha256.Sum256([]byte("key-1")), sha256.Sum256([]byte("key-2"))}
	if !slices.Equal(got, want) {
		t.Errorf("KeyDigests = %x, want %x", got, want)
	}
}

func TestKeyDigestsFailClosed(t *testing.T) {
	tests := []struct {
		name string
		key  Key
	}{
		{"env not resolved by Load", Key{Env: "TEAM_KEY"}},
		{"bad hex", Key{SHA256: strings.Repeat("z", 64)}},
		{"short", Key{SHA256: "abcd"}},
		{"empty", Key{}},
		{"both", Key{SHA256: digestHex("k"), Env: "K"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := Tenant{Name: "a", Keys: []Key{{SHA256: digestHex("ok")}, tt.key}}
			if d, err := tn.KeyDigests(); err == nil {
				t.Fatalf("KeyDigests = %x, want an error", d)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAPIKeyFile(t *testing.T) {
	good := writeFile(t, "key", "  sk-from-file\n")
	c, err := LoadWith([]byte(doc(map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", api_key_file: "` + good + `"}]`})), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers[0].APIKey.Value(); got != "sk-from-file" {
		t.Errorf("APIKey = %q", got)
	}

	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name, file, want string
	}{
		{"missing", missing, "providers[0].api_key_file: cannot read key file: stat " + missing + ": no such file or directory"},
		{"directory", t.TempDir(), "is not a regular file"},
		{"fifo does not block", fifo, "is not a regular file"},
		{"empty", writeFile(t, "empty", "\n\n"), "is empty"},
		{"two lines", writeFile(t, "two", "sk-a\nsk-b\n"), "contains a line break or control character inside the key"},
		{"too large", writeFile(t, "big", strings.Repeat("k", maxKeyFileBytes+1)), "is larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, doc(map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", api_key_file: "` + tt.file + `"}]`}), envMap(nil))
			if len(got) != 1 || !strings.HasPrefix(got[0], "providers[0].api_key_file: ") || !strings.Contains(got[0], tt.want) {
				t.Fatalf("got %q, want one providers[0].api_key_file problem containing %q", got, tt.want)
			}
			if strings.Contains(got[0], "sk-a") {
				t.Fatalf("problem shows the file content: %q", got[0])
			}
		})
	}
}
