package verdict

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
)

var update = flag.Bool("update", false, "rewrite testdata/verdicts.golden")

// TestNumbersNeverChange pins every verdict's number and label. Reordering
// enum weir_verdict, renaming a label or reusing a number breaks dashboards
// and counters pinned by an older agent, so it must show up as a diff here.
func TestNumbersNeverChange(t *testing.T) {
	var b strings.Builder
	for _, v := range All() {
		fmt.Fprintf(&b, "%d %s drops=%t\n", uint32(v), v, v.Drops())
	}
	path := filepath.Join("testdata", "verdicts.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Appending is allowed: the golden must be a prefix of the current list.
	if !strings.HasPrefix(b.String(), string(want)) {
		t.Errorf("verdict numbering changed (only appending is allowed):\n got:\n%s\nwant prefix:\n%s", b.String(), want)
	}
}

// TestMatchesCEnum reads enum weir_verdict from the BTF of the committed
// object and checks that Go knows every enumerator under the same number.
func TestMatchesCEnum(t *testing.T) {
	spec, err := guardbpf.LoadGuard()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("weir_verdict", &enum); err != nil {
		t.Fatalf("weir_verdict not in BTF: %v", err)
	}
	seen := 0
	for _, e := range enum.Values {
		if e.Name == "WEIR_VERDICT_MAX" {
			if Verdict(e.Value) != max {
				t.Errorf("WEIR_VERDICT_MAX = %d, Go max = %d", e.Value, max)
			}
			continue
		}
		v := Verdict(e.Value)
		want := strings.ToLower(strings.TrimPrefix(e.Name, "WEIR_"))
		if v.String() != want {
			t.Errorf("%s = %d: Go label %q, want %q", e.Name, e.Value, v.String(), want)
		}
		seen++
	}
	if seen != len(All()) {
		t.Errorf("C has %d verdicts, Go %d", seen, len(All()))
	}
}

func TestStringUnknown(t *testing.T) {
	if got := Verdict(200).String(); got != "unknown_200" {
		t.Errorf("String() = %q", got)
	}
	if Verdict(200).Drops() {
		t.Error("an unknown verdict must not be reported as a drop")
	}
}
