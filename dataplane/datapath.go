// Package dataplane is the Go side of weir's kernel guard: it probes what the
// kernel supports, loads the eBPF programs of bpf/ (bpf2go output in
// internal/guardbpf), pins maps and links under a bpffs directory, attaches
// to the configured interfaces without disturbing other owners' programs,
// and keeps the maps in step with the configuration.
//
// Lifecycle: New loads (or reuses, after a restart) the pinned maps, replaces
// the program inside existing pinned links atomically and attaches where
// nothing is attached yet. Sync applies a configuration's difference to the
// maps in place. Close releases this process's handles and leaves the guard
// running (the pins hold it), so a restarting agent never leaves a window
// without protection. Uninstall detaches and removes everything.
//
// Tenant ids: the data plane assigns ids, never reusing the id of a name it
// already knows. The name is stored in the pinned weir_tenants map beside the
// limits, so ids (and with them bucket state and counters) survive reloads
// that reorder tenants, and agent restarts.
package dataplane

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
)

// Datapath is the kernel guard as the agent sees it.
type Datapath interface {
	// Sync makes the guard enforce desired, writing only the difference
	// to the maps; programs stay attached. A failed Sync may have applied
	// part of the difference; the next Sync converges.
	Sync(desired Desired) error
	// Block drops every packet of tenant (DefaultTenant for the default
	// class) until the given time; a time in the past unblocks. It
	// implements the ratelimit hand-off (ratelimit.Blocker) by shape.
	Block(tenant string, until time.Time) error
	// Close releases this process's handles; the guard keeps running.
	Close() error
}

// Errors callers can test with errors.Is.
var (
	// ErrNotSupported means the kernel lacks something the guard needs;
	// it wraps ebpf.ErrNotSupported.
	ErrNotSupported = fmt.Errorf("dataplane: kernel feature missing: %w", ebpf.ErrNotSupported)
	// ErrPermission means the process may not load eBPF programs; it
	// wraps os.ErrPermission.
	ErrPermission = fmt.Errorf("dataplane: not allowed to load eBPF: %w", os.ErrPermission)
	// ErrIncompatibleMap means a pinned map has another layout than this
	// build's; it is replaced only with Options.ReplaceIncompatible.
	ErrIncompatibleMap = errors.New("dataplane: pinned map is incompatible with this build")
	// ErrInterfaceBusy means another owner's program holds a hook the
	// guard would have to displace.
	ErrInterfaceBusy = errors.New("dataplane: interface hook owned by another program")
	// ErrUnknownTenant means Block named a tenant the guard does not know.
	ErrUnknownTenant = errors.New("dataplane: unknown tenant")
)

// Unavailable reports whether err means the guard cannot run here (missing
// kernel feature or missing privileges), as opposed to a broken setup: the
// agent serves on with L7 limits in the first case.
func Unavailable(err error) bool {
	return errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, os.ErrPermission)
}

// Noop is the Datapath of an agent running without the kernel guard
// (dataplane.mode off, or auto without support): L7 limits still apply.
type Noop struct{}

var _ Datapath = Noop{}

// Sync checks desired and otherwise does nothing.
func (Noop) Sync(desired Desired) error { return desired.Validate() }

// Block does nothing: without the guard the L7 limits reject the tenant.
func (Noop) Block(string, time.Time) error { return nil }

// Close does nothing.
func (Noop) Close() error { return nil }
