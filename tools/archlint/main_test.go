package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		wantN int
	}{
		{"dataplane importing userspace", module + "/dataplane/guard " + module + "/userspace/config", 1},
		{"unix outside dataplane", module + "/userspace/server golang.org/x/sys/unix", 1},
		{"unix inside dataplane", module + "/dataplane/guard golang.org/x/sys/unix", 0},
		{"schema importing a module", module + "/userspace/schema/openai " + module + "/userspace/sse", 1},
		{"provider importing sse and schema", module + "/userspace/provider/openai " + module + "/userspace/sse " + module + "/userspace/schema/openai encoding/json", 0},
		{"provider importing config", module + "/userspace/provider/openai " + module + "/userspace/config", 1},
		{"importing cmd", module + "/userspace/agent " + module + "/cmd/weir", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := check([]byte(tc.line)); len(got) != tc.wantN {
				t.Fatalf("got %d problems %v, want %d", len(got), got, tc.wantN)
			}
		})
	}
}

// TestRepository runs the rules over the real module, so `make test` enforces them.
func TestRepository(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if p := check(out); len(p) > 0 {
		t.Fatalf("layering violations:\n%s", strings.Join(p, "\n"))
	}
}
