// Command archlint enforces the dependency direction of DESIGN.md:
//
//   - dataplane never imports userspace;
//   - golang.org/x/sys/unix and netlink are imported only under dataplane;
//   - userspace/schema imports only the standard library;
//   - userspace/provider imports only schema, sse, provider and the standard library;
//   - nothing imports cmd.
//
// It reads `go list` and prints every violation; the exit status is 1 if any.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

const module = "github.com/weir-gateway/weir"

// rule is one dependency restriction.
type rule struct {
	name string
	// applies selects the importing package (module-relative path).
	applies func(pkg string) bool
	// allowed reports whether pkg may import imp (full import path).
	allowed func(pkg, imp string) bool
}

func std(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
}

var rules = []rule{
	{"dataplane never imports userspace", under("dataplane"), func(_, imp string) bool {
		return !strings.HasPrefix(imp, module+"/userspace")
	}},
	{"x/sys/unix and netlink only under dataplane", func(p string) bool { return !under("dataplane")(p) }, func(_, imp string) bool {
		return imp != "golang.org/x/sys/unix" && !strings.HasPrefix(imp, "github.com/vishvananda/")
	}},
	{"schema imports only the standard library", under("userspace/schema"), func(_, imp string) bool { return std(imp) }},
	{"provider imports only schema, sse, provider and the standard library", under("userspace/provider"), func(_, imp string) bool {
		return std(imp) || strings.HasPrefix(imp, module+"/userspace/schema") ||
			imp == module+"/userspace/sse" || strings.HasPrefix(imp, module+"/userspace/provider")
	}},
	{"nothing imports cmd", func(string) bool { return true }, func(_, imp string) bool {
		return !strings.HasPrefix(imp, module+"/cmd")
	}},
}

// check returns the violations in `go list` output lines "pkg imp imp ...".
func check(out []byte) []string {
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		for _, imp := range f[1:] {
			for _, r := range rules {
				if r.applies(pkg) && !r.allowed(pkg, imp) {
					problems = append(problems, fmt.Sprintf("%s imports %s: %s", f[0], imp, r.name))
				}
			}
		}
	}
	return problems
}

func main() {
	cmd := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "archlint: go list:", err)
		os.Exit(2)
	}
	problems := check(out)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}
