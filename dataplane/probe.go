package dataplane

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Hook is where the guard attaches.
type Hook string

// The hooks of DESIGN.md: tc ingress by default (tcx on kernels >= 6.6,
// cls_bpf below), XDP opt-in.
const (
	HookTC  Hook = "tc"
	HookXDP Hook = "xdp"
)

// Capabilities is what this kernel (and process) offers the guard.
type Capabilities struct {
	SchedCLS   bool // tc programs (cls_bpf and tcx)
	XDP        bool // XDP programs
	TCX        bool // tcx links (Linux >= 6.6); without it tc uses cls_bpf
	LPMTrie    bool
	LRUHash    bool
	PerCPUHash bool
	BPFFS      bool // a bpf filesystem to pin into
	// Err is set when probing itself failed, e.g. ErrPermission.
	Err error
}

// Probe asks the kernel what it supports. Probing loads tiny programs and
// maps, so without privileges every feature reads false and Err wraps
// ErrPermission.
func Probe() Capabilities {
	var c Capabilities
	check := func(err error) bool {
		switch {
		case err == nil:
			return true
		case errors.Is(err, ebpf.ErrNotSupported):
		case errors.Is(err, unix.EPERM), errors.Is(err, os.ErrPermission):
			c.Err = ErrPermission
		default:
			if c.Err == nil {
				c.Err = fmt.Errorf("probe: %w", err)
			}
		}
		return false
	}
	c.SchedCLS = check(features.HaveProgramType(ebpf.SchedCLS))
	c.XDP = check(features.HaveProgramType(ebpf.XDP))
	c.LPMTrie = check(features.HaveMapType(ebpf.LPMTrie))
	c.LRUHash = check(features.HaveMapType(ebpf.LRUHash))
	c.PerCPUHash = check(features.HaveMapType(ebpf.PerCPUHash))
	if c.SchedCLS {
		c.TCX = check(probeTCX())
	}
	c.BPFFS = isBPFFS(defaultBPFFS)
	return c
}

// probeTCX attaches a trivial program to an interface index that cannot
// exist: a kernel with tcx answers ENODEV, one without it ErrNotSupported.
func probeTCX() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err == nil {
		l.Close()
		return nil
	}
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

// Features returns the probe results by metric label
// (weir_dataplane_feature{feature}).
func (c Capabilities) Features() map[string]bool {
	return map[string]bool{
		"sched_cls":   c.SchedCLS,
		"xdp":         c.XDP,
		"tcx":         c.TCX,
		"lpm_trie":    c.LPMTrie,
		"lru_hash":    c.LRUHash,
		"percpu_hash": c.PerCPUHash,
		"bpffs":       c.BPFFS,
	}
}

// String lists the features as "name=yes|no", sorted.
func (c Capabilities) String() string {
	f := c.Features()
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
		if f[n] {
			b.WriteString("=yes")
		} else {
			b.WriteString("=no")
		}
	}
	return b.String()
}

// Require returns nil when the guard can run on hook, else an error wrapping
// ErrPermission or ErrNotSupported that names what is missing. tcx is not
// required: cls_bpf is the fallback.
func (c Capabilities) Require(hook Hook) error {
	if errors.Is(c.Err, os.ErrPermission) {
		return c.Err
	}
	var missing []string
	need := map[string]bool{"lpm_trie": c.LPMTrie, "lru_hash": c.LRUHash, "percpu_hash": c.PerCPUHash}
	switch hook {
	case HookXDP:
		need["xdp"] = c.XDP
	default:
		need["sched_cls"] = c.SchedCLS
	}
	for n, ok := range need {
		if !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	if c.Err != nil {
		return fmt.Errorf("%w: %s (%v)", ErrNotSupported, strings.Join(missing, ", "), c.Err)
	}
	return fmt.Errorf("%w: %s", ErrNotSupported, strings.Join(missing, ", "))
}
