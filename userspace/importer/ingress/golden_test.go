package ingress

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenOptions are the import options of every case; a case may add a
// file "watch-without-class" to import class-less Ingresses.
func goldenOptions(dir string) Options {
	var o Options
	if _, err := os.Stat(filepath.Join(dir, "watch-without-class")); err == nil {
		o.WatchWithoutClass = true
	}
	return o
}

// TestGolden imports testdata/CASE/in.yaml and compares the routes with
// out.yaml and the report with report.txt. Every out.yaml must load as a
// weir configuration.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/in.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, err := ReadPath(in)
			if err != nil {
				t.Fatal(err)
			}
			routes, rep := Import(objs, goldenOptions(dir))
			out, err := MarshalRoutes(routes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(out); err != nil {
				t.Errorf("out.yaml does not load: %v\n%s", err, out)
			}
			var rb bytes.Buffer
			if _, err := rep.WriteTo(&rb); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join(dir, "out.yaml"), out)
			compareGolden(t, filepath.Join(dir, "report.txt"), rb.Bytes())
		})
	}
}

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
