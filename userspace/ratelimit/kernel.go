package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Blocker is the kernel guard's side of the hand-off: it drops a tenant's
// packets until the given time. Block is called on the request path (at most
// once per tenant per block duration), so it must be fast, e.g. one BPF map
// update.
type Blocker interface {
	Block(tenant string, until time.Time) error
}

// kernelBlock reports tenants that keep sending after their L7 budget is
// exhausted.
type kernelBlock struct {
	Limiter
	b       Blocker
	after   int64
	dur     time.Duration
	o       options
	now     func() time.Time
	tenants sync.Map // tenant → *streak
}

type streak struct {
	rejected     atomic.Int64
	blockedUntil atomic.Int64 // unix ns
}

// WithKernelBlock wraps l so that a tenant denied after consecutive times in
// a row (by a real limit: backend_unavailable denials are not the tenant's
// fault and do not count) is reported to b, blocked for dur. An admitted
// request resets the count; after a report the count starts again, and the
// tenant is not reported again before its block ends. after ≤ 0 or a nil b
// returns l unchanged.
func WithKernelBlock(l Limiter, b Blocker, after int, dur time.Duration, opts ...Option) Limiter {
	if after <= 0 || b == nil {
		return l
	}
	return &kernelBlock{Limiter: l, b: b, after: int64(after), dur: dur, o: buildOptions(opts), now: time.Now}
}

// Reserve implements Limiter.
func (k *kernelBlock) Reserve(ctx context.Context, r Request) (Reservation, Decision, error) {
	res, d, err := k.Limiter.Reserve(ctx, r)
	if err != nil || d.Degraded {
		return res, d, err
	}
	v, ok := k.tenants.Load(r.Tenant)
	if !ok {
		if d.Allowed {
			return res, d, err
		}
		v, _ = k.tenants.LoadOrStore(r.Tenant, new(streak))
	}
	s := v.(*streak)
	if d.Allowed {
		if s.rejected.Load() != 0 {
			s.rejected.Store(0)
		}
		return res, d, err
	}
	if s.rejected.Add(1) < k.after {
		return res, d, err
	}
	now := k.now()
	until := now.Add(k.dur)
	prev := s.blockedUntil.Load()
	if now.UnixNano() < prev || !s.blockedUntil.CompareAndSwap(prev, until.UnixNano()) {
		return res, d, err // already blocked, or another request is reporting
	}
	s.rejected.Store(0)
	berr := k.b.Block(r.Tenant, until)
	k.o.metrics.kernelBlock(r.Tenant, berr)
	if berr != nil {
		k.o.logger.Warn("ratelimit: kernel block failed", "tenant", r.Tenant, "err", berr)
	}
	return res, d, err
}
