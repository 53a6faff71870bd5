package dataplane

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/weir-gateway/weir/dataplane/internal/guardbpf"
	"github.com/weir-gateway/weir/dataplane/maps/blocked"
	"github.com/weir-gateway/weir/dataplane/maps/buckets"
	"github.com/weir-gateway/weir/dataplane/maps/classify"
	"github.com/weir-gateway/weir/dataplane/maps/counters"
	"github.com/weir-gateway/weir/dataplane/maps/deny"
	"github.com/weir-gateway/weir/dataplane/maps/portrules"
	"github.com/weir-gateway/weir/dataplane/maps/portsources"
	"github.com/weir-gateway/weir/dataplane/maps/sources"
	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// The BPF object is compiled from bpf/guard.c; -mcpu=v3 for BPF_CMPXCHG
// (Linux >= 5.12), bpfel only (x86-64 and arm64 hosts). bpf2go strips DWARF
// and maps the source directory to a relative path, so the committed object
// is byte-for-byte reproducible with the same clang (make check-generated);
// BTF is kept for the map layouts.
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror -mcpu=v3" -output-dir internal/guardbpf -go-package guardbpf -type weir_verdict Guard ../bpf/guard.c -- -I../bpf/include

// Options configure New. The zero value loads the tc program, pins under
// DefaultRoot and attaches nowhere.
type Options struct {
	// Root is the bpffs directory for pinned maps and links (DefaultRoot).
	Root string
	// Hook selects tc (default) or XDP.
	Hook Hook
	// Interfaces to attach to, by name.
	Interfaces []string
	// NetNS, when set, is the path of the network namespace the interfaces
	// live in (e.g. /var/run/netns/gw); default: the caller's.
	NetNS string
	// ReplaceIncompatible recreates pinned maps whose layout differs from
	// this build's (their state is lost) instead of failing.
	ReplaceIncompatible bool
	// ReplaceForeignXDP detaches another owner's netlink-attached XDP
	// program instead of failing with ErrInterfaceBusy.
	ReplaceForeignXDP bool
	// LegacyTC uses cls_bpf on a clsact qdisc even when tcx is available.
	LegacyTC bool
	// SourceTableSize sizes the per-source LRUs (default 65536).
	SourceTableSize uint32
	// Logger receives one line per notable event (default: discard).
	Logger *slog.Logger

	// testClock loads the programs with the test clock (see guard.c) and
	// keeps both programs, for prog.Run tests.
	testClock bool
}

// Guard is the loaded kernel guard. It implements Datapath.
type Guard struct {
	opts     Options
	log      *slog.Logger
	caps     Capabilities
	coll     *ebpf.Collection
	prog     *ebpf.Program
	syncer   *syncer
	attached []*attachment
	// createdPins are the maps this New pinned (none existed before).
	createdPins []string

	closeOnce sync.Once
	closeErr  error
}

var _ Datapath = (*Guard)(nil)

// New probes the kernel, loads the guard (reusing compatible pinned maps,
// so limits, bucket state and counters carry over) and attaches it to
// opts.Interfaces (swapping the program inside pinned links atomically).
// Errors wrap ErrNotSupported or ErrPermission when the guard cannot run
// here, ErrIncompatibleMap or ErrInterfaceBusy when it must not.
func New(opts Options) (*Guard, error) {
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	if opts.Hook == "" {
		opts.Hook = HookTC
	}
	if opts.Hook != HookTC && opts.Hook != HookXDP {
		return nil, fmt.Errorf("dataplane: unknown hook %q (want tc or xdp)", opts.Hook)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g := &Guard{opts: opts, log: opts.Logger}
	g.caps = Probe()
	if err := g.caps.Require(opts.Hook); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("dataplane: memlock rlimit: %w", permission(err))
	}
	if err := ensureRoot(opts.Root, func(p string) { g.log.Info("mounted bpffs", "path", p) }); err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	if err := g.load(); err != nil {
		return nil, err
	}
	if err := inNetNS(opts.NetNS, g.attachAll); err != nil {
		g.undoLoad()
		return nil, err
	}
	return g, nil
}

// undoLoad unpins the maps this New created and closes the collection, so
// a failed start leaves the pin root as it found it.
func (g *Guard) undoLoad() {
	for _, name := range g.createdPins {
		if m := g.coll.Maps[name]; m != nil {
			m.Unpin()
		}
	}
	g.coll.Close()
	os.Remove(filepath.Join(g.opts.Root, linksDir))
	os.Remove(g.opts.Root)
}

func (g *Guard) load() error {
	spec, err := guardbpf.LoadGuard()
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	if g.opts.SourceTableSize > 0 {
		spec.Maps[guardbpf.GuardMapWeirSrcConns].MaxEntries = g.opts.SourceTableSize
		spec.Maps[guardbpf.GuardMapWeirPortSrcConns].MaxEntries = g.opts.SourceTableSize
	}
	progName := guardbpf.GuardProgWeirGuardTc
	if g.opts.Hook == HookXDP {
		progName = guardbpf.GuardProgWeirGuardXdp
	}
	if g.opts.testClock {
		if err := spec.Variables[guardbpf.GuardVarWeirCfgTestClock].Set(uint8(1)); err != nil {
			return fmt.Errorf("dataplane: set test clock: %w", err)
		}
	} else {
		// Load only the program we attach: less verifier work, and an
		// XDP-less kernel can still run the tc guard.
		for name := range spec.Programs {
			if name != progName {
				delete(spec.Programs, name)
			}
		}
	}
	created, err := checkPins(spec, g.opts.Root, g.opts.ReplaceIncompatible, g.log)
	if err != nil {
		return err
	}
	g.createdPins = created
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Maps: ebpf.MapOptions{PinPath: g.opts.Root},
	})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return fmt.Errorf("dataplane: load guard: %+v", verr)
		}
		return fmt.Errorf("dataplane: load guard: %w", permission(err))
	}
	g.coll = coll
	g.prog = coll.Programs[progName]
	g.syncer = &syncer{maps: mapsOf(coll.Maps), now: monotonicNow}
	if g.opts.testClock {
		g.syncer.now = g.testNow
	}
	return nil
}

// mapsOf wraps the guard's maps, by name, in their packages.
func mapsOf(m map[string]*ebpf.Map) mapSet {
	return mapSet{
		tenants:     tenants.New(m[guardbpf.GuardMapWeirTenants]),
		classify:    classify.New(m[guardbpf.GuardMapWeirClassify]),
		deny:        deny.New(m[guardbpf.GuardMapWeirDeny]),
		buckets:     buckets.New(m[guardbpf.GuardMapWeirBuckets]),
		sources:     sources.New(m[guardbpf.GuardMapWeirSrcConns]),
		blocked:     blocked.New(m[guardbpf.GuardMapWeirBlocked]),
		counters:    counters.New(m[guardbpf.GuardMapWeirCounters]),
		ports:       portrules.New(m[guardbpf.GuardMapWeirPortRules]),
		portSources: portsources.New(m[guardbpf.GuardMapWeirPortSrcConns]),
	}
}

// permission maps EPERM to ErrPermission so callers can fall back.
func permission(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}

// checkPins compares every pinned map with this build's spec (type, sizes,
// flags, and the BTF layout of key and value). An incompatible pin is an
// error, or with replace it is unpinned so the load creates a fresh one. It
// returns the maps the load will pin anew.
func checkPins(spec *ebpf.CollectionSpec, root string, replace bool, log *slog.Logger) (created []string, _ error) {
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		path := filepath.Join(root, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			created = append(created, name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dataplane: open pinned map %s: %w", path, permission(err))
		}
		diff := errors.Join(ms.Compatible(m), btfCompatible(ms, m))
		m.Close()
		if diff == nil {
			continue
		}
		if !replace {
			return nil, fmt.Errorf("%w: %s: %v (replacing it loses its state; allow with the replace-incompatible option)", ErrIncompatibleMap, path, diff)
		}
		log.Warn("replacing incompatible pinned map", "map", path, "diff", diff.Error())
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("dataplane: unpin %s: %w", path, err)
		}
		created = append(created, name)
	}
	return created, nil
}

// Capabilities returns what the kernel offered at New.
func (g *Guard) Capabilities() Capabilities { return g.caps }

// Root returns the pin directory.
func (g *Guard) Root() string { return g.opts.Root }

// Sync implements Datapath.
func (g *Guard) Sync(desired Desired) error {
	st, err := g.syncer.sync(desired)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	if st.Changes() > 0 {
		g.log.Info("guard maps synced", "tenants_written", st.TenantsWritten, "tenants_removed", st.TenantsRemoved,
			"sources_written", st.RulesWritten, "sources_removed", st.RulesRemoved,
			"deny_written", st.DenyWritten, "deny_removed", st.DenyRemoved,
			"port_rules_written", st.PortsWritten, "port_rules_removed", st.PortsRemoved)
	}
	return nil
}

// Block implements Datapath.
func (g *Guard) Block(tenant string, until time.Time) error {
	if err := g.syncer.block(tenant, until); err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	return nil
}

// Close releases this process's handles. Pinned maps and links keep the
// guard enforcing until the next agent takes over (or Uninstall).
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		var errs []error
		for _, a := range g.attached {
			errs = append(errs, a.release())
		}
		g.attached = nil
		if g.coll != nil {
			g.coll.Close()
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// Uninstall detaches the guard from every interface it is attached to and
// removes its pins, then closes it. Bucket state and counters are gone.
func (g *Guard) Uninstall() error {
	var errs []error
	errs = append(errs, inNetNS(g.opts.NetNS, func() error {
		var errs []error
		for _, a := range g.attached {
			errs = append(errs, a.detach())
		}
		return errors.Join(errs...)
	}))
	g.attached = nil
	for name, m := range g.coll.Maps {
		if m.IsPinned() {
			if err := m.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpin %s: %w", name, err))
			}
		}
	}
	errs = append(errs, g.Close())
	for _, dir := range []string{filepath.Join(g.opts.Root, linksDir), g.opts.Root} {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: uninstall: %w", err)
	}
	return nil
}

// monotonicNow reads CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonicNow() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	return uint64(ts.Nano()), nil
}

// testNow reads the test clock variable (testClock loads only).
func (g *Guard) testNow() (uint64, error) {
	var now uint64
	if err := g.coll.Variables[guardbpf.GuardVarWeirTestNowNs].Get(&now); err != nil {
		return 0, err
	}
	return now, nil
}

// setTestNow sets the test clock (testClock loads only).
func (g *Guard) setTestNow(ns uint64) error {
	return g.coll.Variables[guardbpf.GuardVarWeirTestNowNs].Set(ns)
}
