package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/internal/privileged"
)

const (
	provisionScript = "../vagrant/provision.sh"
	vagrantfile     = "../vagrant/Vagrantfile"
	ciRun           = "../.ci/run"
	ciPackages      = ".ci/packages.txt"
)

func TestProvisionShellcheck(t *testing.T) {
	path, err := exec.LookPath("shellcheck")
	privileged.RequireTool(t, "shellcheck", err)
	out, err := exec.Command(path, "--severity=style", "--shell=bash", provisionScript).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %s: %v\n%s", provisionScript, err, out)
	}
}

// TestProvisionRunsCI checks that the VM does what CI does by construction:
// provision.sh runs .ci/run itself (so the packages, checks and test flags
// are the same file), and .ci/run installs from the one package list.
func TestProvisionRunsCI(t *testing.T) {
	script := readText(t, provisionScript)
	ci := readText(t, ciRun)
	steps := map[string]*regexp.Regexp{
		"runs .ci/run":                   regexp.MustCompile(`(?m)^bash \.ci/run$`),
		"runs make demo":                 regexp.MustCompile(`(?m)^make demo$`),
		"takes the Go version of go.mod": regexp.MustCompile(`awk '\$1 == "go" \{ print \$2; exit \}' go.mod`),
		"checks the Go tarball":          regexp.MustCompile(`sha256sum --check`),
		"refuses to run as non-root":     regexp.MustCompile(`EUID -ne 0`),
	}
	for name, re := range steps {
		if !re.MatchString(script) {
			t.Errorf("provision.sh no longer %s (%s)", name, re)
		}
	}
	if !strings.Contains(ci, ciPackages) {
		t.Errorf(".ci/run does not read %s: the VM and CI would install different packages", ciPackages)
	}
	if !strings.Contains(ci, "WEIR_REQUIRE_PRIVILEGED=1") {
		t.Error(".ci/run does not require the privileged tests")
	}
	// .ci/run puts Go at /usr/local/go/bin on PATH; provision.sh installs it there.
	if !strings.Contains(ci, "/usr/local/go/bin") || !strings.Contains(script, "tar -C /usr/local -xzf") {
		t.Error("provision.sh and .ci/run disagree on where Go lives")
	}
	if _, err := os.Stat("../" + ciPackages); err != nil {
		t.Error(err)
	}

	vf := readText(t, vagrantfile)
	for _, want := range []string{`config.vm.box = "debian/bookworm64"`, `path: "provision.sh"`, `privileged: true`, `"WEIR_REPO" => "/weir"`, `"..", "/weir"`} {
		if !strings.Contains(vf, want) {
			t.Errorf("Vagrantfile lacks %s", want)
		}
	}
	if ruby, err := exec.LookPath("ruby"); err == nil {
		if out, err := exec.Command(ruby, "-c", vagrantfile).CombinedOutput(); err != nil {
			t.Errorf("ruby -c Vagrantfile: %v\n%s", err, out)
		}
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
