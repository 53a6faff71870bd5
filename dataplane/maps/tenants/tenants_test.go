package tenants

import (
	"strings"
	"testing"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
)

func TestEncodeDecode(t *testing.T) {
	in := Tenant{Name: "team-a", Limits: Limits{Packets: Rate{20000, 2000}, Connections: Rate{200, 50}, SourceConnections: Rate{10, 1}}}
	v, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if v.Conns.PerSec != 200 || v.SrcConns.Burst != 1 {
		t.Errorf("encoded %+v", v)
	}
	if out := Decode(v); out != in {
		t.Errorf("round trip %+v, want %+v", out, in)
	}
	longest := strings.Repeat("n", MaxNameLen)
	if v, err := Encode(Tenant{Name: longest}); err != nil || Decode(v).Name != longest {
		t.Errorf("%d-byte name: %v", MaxNameLen, err)
	}
}

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", strings.Repeat("n", MaxNameLen+1), "a\x00b"} {
		if ValidateName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
		if _, err := Encode(Tenant{Name: bad}); err == nil {
			t.Errorf("Encode(%q) accepted", bad)
		}
	}
}

// TestMaxEntriesMatchesC keeps the Go constant in step with WEIR_MAX_TENANTS.
func TestMaxEntriesMatchesC(t *testing.T) {
	spec, err := guardbpf.LoadGuard()
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.Maps[guardbpf.GuardMapWeirTenants].MaxEntries; got != MaxEntries {
		t.Errorf("weir_tenants holds %d, MaxEntries = %d", got, MaxEntries)
	}
}
