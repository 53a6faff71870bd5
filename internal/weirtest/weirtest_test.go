package weirtest

import (
	"os"
	"path/filepath"
	"testing"
)

type fakeRunner struct {
	ran  bool
	code int
}

func (f *fakeRunner) Run() int {
	f.ran = true
	return f.code
}

func TestMainRemovesBuiltBinaries(t *testing.T) {
	saved := buildDir
	t.Cleanup(func() { buildDir = saved })

	for _, tc := range []struct {
		name  string
		built bool
		code  int
	}{
		{name: "built, tests pass", built: true, code: 0},
		{name: "built, tests fail", built: true, code: 1},
		{name: "nothing built", built: false, code: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buildDir = ""
			var bin string
			if tc.built {
				buildDir = filepath.Join(t.TempDir(), "weirtest-bin-x")
				bin = filepath.Join(buildDir, "weir")
				if err := os.MkdirAll(buildDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := &fakeRunner{code: tc.code}
			if got := Main(r); got != tc.code {
				t.Errorf("Main returned %d, want the tests' %d", got, tc.code)
			}
			if !r.ran {
				t.Fatal("Main did not run the tests")
			}
			if tc.built {
				if _, err := os.Stat(buildDir); !os.IsNotExist(err) {
					t.Errorf("build directory %s still there after Main (stat: %v)", buildDir, err)
				}
			}
		})
	}
}
