package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what no container engine runs here to check: the
// builder matches go.mod, the binaries are static and stamped the way the
// Makefile stamps them, the final image is non-root, and .dockerignore keeps
// every build input.
func TestDockerfile(t *testing.T) {
	df := readText(t, "../Dockerfile")
	gomod := readText(t, "../go.mod")

	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	if !strings.Contains(df, "ARG GO_VERSION="+goLine[1]+"\n") {
		t.Errorf("Dockerfile's GO_VERSION is not go.mod's Go %s", goLine[1])
	}
	stages := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\S+))?$`).FindAllStringSubmatch(df, -1)
	if len(stages) != 2 {
		t.Fatalf("want a builder and a final stage, found %d FROM lines", len(stages))
	}
	if stages[0][1] != "golang:${GO_VERSION}-bookworm" {
		t.Errorf("builder is %s", stages[0][1])
	}
	if final := stages[1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("final stage %s is not distroless static nonroot", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-X main.version=${VERSION}`, "./cmd/weir", "./cmd/weirctl", "ARG VERSION"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)$`).FindStringSubmatch(df)
	if user == nil || user[1] == "0" || strings.HasPrefix(user[1], "root") || strings.HasPrefix(user[1], "0:") {
		t.Errorf("final image user %v is root", user)
	}
	if !strings.Contains(df, `ENTRYPOINT ["/usr/local/bin/weir"]`) || !strings.Contains(df, "/usr/local/bin/") {
		t.Error("ENTRYPOINT is not the copied /usr/local/bin/weir")
	}

	// The Makefile's image target passes VERSION and stamps main.version.
	mk := readText(t, "../Makefile")
	if !strings.Contains(mk, "--build-arg VERSION=$(VERSION)") || !strings.Contains(mk, "-X main.version=$(VERSION)") {
		t.Error("Makefile no longer passes VERSION the way the Dockerfile expects")
	}
	// weir prints that version (weir version); -X on a variable that does
	// not exist is silently ignored, so check it is there.
	files, _ := filepath.Glob(filepath.Join("..", "cmd", "weir", "*.go"))
	stamped := false
	for _, f := range files {
		if regexp.MustCompile(`(?m)^var version\b`).MatchString(readText(t, f)) {
			stamped = true
		}
	}
	if !stamped {
		t.Error("cmd/weir has no package-level var version for -X main.version")
	}

	// .dockerignore must not drop a build input.
	ignore := readText(t, "../.dockerignore")
	for _, line := range strings.Split(ignore, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, input := range []string{"go.mod", "go.sum", "cmd", "userspace", "dataplane", "bpf", "internal"} {
			if ok, _ := filepath.Match(line, input); ok || line == input || strings.HasPrefix(input, line+"/") {
				t.Errorf(".dockerignore line %q excludes build input %s", line, input)
			}
		}
	}
	if _, err := os.Stat("../.dockerignore"); err != nil {
		t.Error(err)
	}
}
