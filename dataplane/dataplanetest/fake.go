// Package dataplanetest provides a fake Datapath for unprivileged tests of
// code that drives the kernel guard (config reloads, the ratelimit hand-off).
package dataplanetest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/weir-gateway/weir/dataplane"
)

// Fake records what it is asked to do and answers like the real guard:
// Sync validates the Desired the same way, Block knows only the tenants of
// the last successful Sync (and the default class).
type Fake struct {
	mu      sync.Mutex
	syncs   []dataplane.Desired
	blocked map[string]time.Time
	closed  bool

	// SyncErr and BlockErr, when set, are returned instead of doing the work.
	SyncErr, BlockErr error
}

var _ dataplane.Datapath = (*Fake)(nil)

// New returns an empty Fake.
func New() *Fake { return &Fake{blocked: make(map[string]time.Time)} }

// Sync records desired after validating it.
func (f *Fake) Sync(desired dataplane.Desired) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("dataplanetest: sync after close")
	}
	if f.SyncErr != nil {
		return f.SyncErr
	}
	if err := desired.Validate(); err != nil {
		return fmt.Errorf("dataplanetest: sync: %w", err)
	}
	f.syncs = append(f.syncs, desired)
	for name := range f.blocked {
		if name != dataplane.DefaultTenant && !slices.Contains(desired.TenantNames(), name) {
			delete(f.blocked, name)
		}
	}
	return nil
}

// Block records a deadline; a time in the past unblocks.
func (f *Fake) Block(tenant string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.BlockErr != nil {
		return f.BlockErr
	}
	known := tenant == dataplane.DefaultTenant
	if n := len(f.syncs); n > 0 {
		known = known || slices.Contains(f.syncs[n-1].TenantNames(), tenant)
	}
	if !known {
		return fmt.Errorf("dataplanetest: block %q: %w", tenant, dataplane.ErrUnknownTenant)
	}
	if !until.After(time.Now()) {
		delete(f.blocked, tenant)
		return nil
	}
	f.blocked[tenant] = until
	return nil
}

// Close marks the fake closed.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Syncs returns every Desired accepted so far, oldest first.
func (f *Fake) Syncs() []dataplane.Desired {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.syncs)
}

// Last returns the last accepted Desired.
func (f *Fake) Last() (dataplane.Desired, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.syncs) == 0 {
		return dataplane.Desired{}, false
	}
	return f.syncs[len(f.syncs)-1], true
}

// BlockedUntil returns the deadline of tenant, if blocked.
func (f *Fake) BlockedUntil(tenant string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.blocked[tenant]
	return t, ok && t.After(time.Now())
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}
