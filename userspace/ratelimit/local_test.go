package ratelimit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable monotonic clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newFakeLocal() (*Local, *fakeClock) {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour)) // not zero, like a real monotonic clock
	return NewLocal(withClock(c.now)), c
}

func mustReserve(t *testing.T, l Limiter, r Request) (Reservation, Decision) {
	t.Helper()
	res, d, err := l.Reserve(context.Background(), r)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if d.Allowed != (res != nil) {
		t.Fatalf("Allowed=%v but reservation=%v", d.Allowed, res)
	}
	return res, d
}

func TestLocalContinuousRefill(t *testing.T) {
	l, clock := newFakeLocal()
	r := Request{Tenant: "a", Limits: Limits{RequestsPerMinute: 60}}
	for i := range 60 {
		if _, d := mustReserve(t, l, r); !d.Allowed || d.Requests.Remaining != int64(59-i) {
			t.Fatalf("request %d: allowed=%v remaining=%d", i, d.Allowed, d.Requests.Remaining)
		}
	}
	_, d := mustReserve(t, l, r)
	if d.Allowed || d.Limit != RequestsPerMinute || d.RetryAfter != time.Second {
		t.Fatalf("61st: %+v, want denied by requests_per_minute, retry 1s", d)
	}
	clock.advance(400 * time.Millisecond)
	if _, d = mustReserve(t, l, r); d.Allowed || d.RetryAfter != 600*time.Millisecond {
		t.Fatalf("after 400ms: %+v, want denied, retry 600ms", d)
	}
	clock.advance(600 * time.Millisecond)
	if _, d = mustReserve(t, l, r); !d.Allowed {
		t.Fatalf("after 1s: %+v, want allowed (one request refilled)", d)
	}
	// No boundary burst: 30s later exactly 30 more fit, not 60.
	clock.advance(30 * time.Second)
	n := 0
	for range 100 {
		if _, d := mustReserve(t, l, r); d.Allowed {
			n++
		}
	}
	if n != 30 {
		t.Fatalf("admitted %d after 30s, want 30", n)
	}
}

func TestLocalSettleDebtIsCapped(t *testing.T) {
	l, clock := newFakeLocal()
	r := Request{Tenant: "a", Limits: Limits{TokensPerMinute: 100}, Tokens: 10}
	res, _ := mustReserve(t, l, r)
	res.Settle(context.Background(), 1_000_000)
	_, d := mustReserve(t, l, Request{Tenant: "a", Limits: r.Limits, Tokens: 1})
	// Debt is capped at one period beyond a full bucket: 2 minutes of TAT.
	if d.Allowed || d.RetryAfter > time.Minute+time.Second || d.RetryAfter < time.Minute {
		t.Fatalf("after huge overshoot: %+v, want denied for about one minute", d)
	}
	clock.advance(2 * time.Minute)
	if _, d = mustReserve(t, l, r); !d.Allowed || d.Tokens.Remaining != 90 {
		t.Fatalf("after 2m: %+v, want allowed with 90 left", d)
	}
}

func TestLocalSweepKeepsDecisions(t *testing.T) {
	l, clock := newFakeLocal()
	busy := Request{Tenant: "busy", Limits: Limits{RequestsPerMinute: 1, ConcurrentRequests: 5}}
	idle := Request{Tenant: "idle", Limits: Limits{RequestsPerMinute: 1}}
	held, _ := mustReserve(t, l, busy)
	mustReserve(t, l, idle)
	clock.advance(2 * time.Minute) // both rpm buckets full again; busy holds a slot
	// The next request touching a shard sweeps it (a minute passed); sweep all.
	mustReserve(t, l, Request{Tenant: "other", Limits: Limits{RequestsPerMinute: 1}})
	for i := range l.shards {
		l.shards[i].sweep(clock.now())
	}
	if got := countStates(l, "idle"); got != 0 {
		t.Fatalf("idle tenant still has %d states after sweep", got)
	}
	if got := countStates(l, "busy"); got != 1 {
		t.Fatalf("busy tenant has %d states, want 1 (it holds a slot)", got)
	}
	held.Settle(context.Background(), 0)
	if _, d := mustReserve(t, l, idle); !d.Allowed || d.Requests.Remaining != 0 {
		t.Fatalf("idle after sweep: %+v, want allowed like a fresh tenant", d)
	}
}

func countStates(l *Local, tenant string) int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		for k := range sh.m {
			if k.tenant == tenant {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}
