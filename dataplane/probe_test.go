package dataplane

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/weir-gateway/weir/internal/privileged"
)

func TestRequire(t *testing.T) {
	full := Capabilities{SchedCLS: true, XDP: true, TCX: true, LPMTrie: true, LRUHash: true, PerCPUHash: true, BPFFS: true}
	if err := full.Require(HookTC); err != nil {
		t.Errorf("full: %v", err)
	}
	noTCX := full
	noTCX.TCX = false
	if err := noTCX.Require(HookTC); err != nil {
		t.Errorf("tcx is optional (cls_bpf): %v", err)
	}
	noXDP := full
	noXDP.XDP = false
	if err := noXDP.Require(HookTC); err != nil {
		t.Errorf("tc without XDP: %v", err)
	}
	err := noXDP.Require(HookXDP)
	if !errors.Is(err, ebpf.ErrNotSupported) || !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "xdp") || !Unavailable(err) {
		t.Errorf("xdp without XDP: %v", err)
	}
	err = Capabilities{}.Require(HookTC)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "lpm_trie, lru_hash, percpu_hash, sched_cls") {
		t.Errorf("nothing: %v", err)
	}
	err = Capabilities{Err: ErrPermission}.Require(HookTC)
	if !errors.Is(err, os.ErrPermission) || !Unavailable(err) {
		t.Errorf("unprivileged: %v", err)
	}
	if Unavailable(ErrIncompatibleMap) || Unavailable(ErrInterfaceBusy) {
		t.Error("a broken setup must not read as 'unavailable'")
	}
}

func TestCapabilitiesString(t *testing.T) {
	got := Capabilities{TCX: true, SchedCLS: true}.String()
	want := "bpffs=no lpm_trie=no lru_hash=no percpu_hash=no sched_cls=yes tcx=yes xdp=no"
	if got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestPrivilegedProbe checks the probe against this machine, which the
// privileged suite requires to be a kernel >= 6.6 with BTF.
func TestPrivilegedProbe(t *testing.T) {
	privileged.Require(t)
	c := Probe()
	if c.Err != nil {
		t.Fatalf("probe: %v", c.Err)
	}
	for name, ok := range c.Features() {
		if !ok {
			t.Errorf("feature %s missing on the test machine", name)
		}
	}
}
