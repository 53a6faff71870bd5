package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/ratelimit/redistest"
)

// backend builds limiters of one kind; every call of newLimiter returns a
// limiter with fresh state, newPair two limiters sharing one state (two
// processes).
type backend struct {
	newLimiter func(t *testing.T) Limiter
	newPair    func(t *testing.T) (Limiter, Limiter)
}

var prefixSeq atomic.Int64

func newRedisLimiter(t testing.TB, addr, prefix string, onError OnError) *Redis {
	t.Helper()
	// A generous timeout: these tests check decisions, not latency, on a
	// loaded 2-core machine under -race.
	l, err := NewRedis(RedisOptions{Address: addr, Prefix: prefix, OnError: onError, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("test%d:", prefixSeq.Add(1))
}

// forEachBackend runs f against the local limiter and against Redis.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("local", func(t *testing.T) {
		f(t, backend{
			newLimiter: func(*testing.T) Limiter { return NewLocal() },
			newPair: func(*testing.T) (Limiter, Limiter) {
				l := NewLocal()
				return l, l
			},
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, backend{
			newLimiter: func(t *testing.T) Limiter {
				// OnErrorDeny: a Redis failure must not pass as an admission.
				return newRedisLimiter(t, srv.Addr, uniquePrefix(t), OnErrorDeny)
			},
			newPair: func(t *testing.T) (Limiter, Limiter) {
				p := uniquePrefix(t)
				return newRedisLimiter(t, srv.Addr, p, OnErrorDeny), newRedisLimiter(t, srv.Addr, p, OnErrorDeny)
			},
		})
	})
}

// flush waits until l applied every settlement it accepted.
func flush(t *testing.T, l Limiter) {
	t.Helper()
	if k, ok := l.(*kernelBlock); ok {
		l = k.Limiter
	}
	r, ok := l.(*Redis)
	if !ok {
		return
	}
	for range 500 {
		if r.pending.Load() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d settlements still pending after 5s", r.pending.Load())
}

func TestLimiterSemantics(t *testing.T) {
	ctx := context.Background()
	type step struct {
		tokens  int64
		model   string
		mlimits *Limits
		// want
		allowed   bool
		limit     string
		scope     string
		remaining int64 // Tokens.Remaining if tokens limits apply, else Requests.Remaining; -1 = unchecked
		// after the step: settle this reservation with settle tokens (-1: keep it)
		settle int64
	}
	rpm := func(n int64) *Limits { return &Limits{RequestsPerMinute: n} }
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{"requests per minute", Limits{RequestsPerMinute: 3}, []step{
			{allowed: true, remaining: 2, settle: -1},
			{allowed: true, remaining: 1, settle: -1},
			{allowed: true, remaining: 0, settle: -1},
			{limit: RequestsPerMinute, scope: ScopeTenant, remaining: 0},
		}},
		{"tokens per minute reserve the estimate", Limits{TokensPerMinute: 1000}, []step{
			{tokens: 400, allowed: true, remaining: 600, settle: -1},
			{tokens: 400, allowed: true, remaining: 200, settle: -1},
			{tokens: 400, limit: TokensPerMinute, scope: ScopeTenant, remaining: 200},
			{tokens: 200, allowed: true, remaining: 0, settle: -1},
		}},
		{"settle refunds an overestimate", Limits{TokensPerMinute: 1000}, []step{
			{tokens: 800, allowed: true, remaining: 200, settle: 100},
			{tokens: 900, allowed: true, remaining: 0, settle: -1},
		}},
		{"settle charges an underestimate", Limits{TokensPerMinute: 1000}, []step{
			{tokens: 100, allowed: true, remaining: 900, settle: 1000},
			{tokens: 1, limit: TokensPerMinute, scope: ScopeTenant, remaining: 0},
		}},
		{"tokens per day", Limits{TokensPerDay: 500}, []step{
			{tokens: 300, allowed: true, remaining: 200, settle: -1},
			{tokens: 300, limit: TokensPerDay, scope: ScopeTenant, remaining: 200},
		}},
		{"estimate above capacity needs a full bucket", Limits{TokensPerMinute: 100}, []step{
			{tokens: 500, allowed: true, remaining: 0, settle: -1},
			{tokens: 1, limit: TokensPerMinute, scope: ScopeTenant, remaining: 0},
		}},
		{"concurrency slots come back on settle", Limits{ConcurrentRequests: 2}, []step{
			{allowed: true, remaining: -1, settle: 0},
			{allowed: true, remaining: -1, settle: -1},
			{allowed: true, remaining: -1, settle: -1},
			{limit: ConcurrentRequests, scope: ScopeTenant, remaining: -1},
		}},
		{"model limits are their own budget", Limits{RequestsPerMinute: 10}, []step{
			{model: "gpt-4*", mlimits: rpm(1), allowed: true, remaining: 0, settle: -1},
			{model: "gpt-4*", mlimits: rpm(1), limit: RequestsPerMinute, scope: ScopeModel, remaining: 0},
			{model: "claude*", mlimits: rpm(1), allowed: true, remaining: 0, settle: -1},
			{allowed: true, remaining: 7, settle: -1},
		}},
		{"a denied request charges nothing", Limits{TokensPerMinute: 1000}, []step{
			{tokens: 100, model: "m", mlimits: rpm(1), allowed: true, remaining: 900, settle: -1},
			{tokens: 100, model: "m", mlimits: rpm(1), limit: RequestsPerMinute, scope: ScopeModel, remaining: 900},
			{tokens: 100, allowed: true, remaining: 800, settle: -1},
		}},
		{"unlimited", Limits{}, []step{
			{tokens: 1 << 40, allowed: true, remaining: -1, settle: 5},
			{tokens: 1 << 40, allowed: true, remaining: -1, settle: -1},
		}},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				l := b.newLimiter(t)
				for i, s := range tt.steps {
					r := Request{Tenant: "team-a", Limits: tt.limits, Tokens: s.tokens, Model: s.model, ModelLimits: s.mlimits}
					res, d, err := l.Reserve(ctx, r)
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if d.Allowed != s.allowed || d.Limit != s.limit || d.Scope != s.scope || d.Degraded {
						t.Fatalf("step %d: got %+v, want allowed=%v limit=%q scope=%q", i, d, s.allowed, s.limit, s.scope)
					}
					if (res != nil) != d.Allowed {
						t.Fatalf("step %d: reservation %v with allowed=%v", i, res, d.Allowed)
					}
					q := d.Requests
					if d.Tokens.Limit != 0 {
						q = d.Tokens
					}
					if s.remaining >= 0 && q.Remaining != s.remaining {
						t.Fatalf("step %d: remaining %d, want %d (%+v)", i, q.Remaining, s.remaining, d)
					}
					if !d.Allowed && d.RetryAfter <= 0 {
						t.Fatalf("step %d: denied without RetryAfter: %+v", i, d)
					}
					if d.Allowed && s.settle >= 0 {
						res.Settle(ctx, s.settle)
						flush(t, l)
					}
				}
			})
		}
	})
}

func TestRetryAfterIsTimeUntilBudget(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, b backend) {
		tests := []struct {
			name     string
			limits   Limits
			tokens   int64
			min, max time.Duration
		}{
			// 3/min: the 4th request fits when the first of three refilled: 20s.
			{"requests", Limits{RequestsPerMinute: 3}, 0, 19 * time.Second, 20 * time.Second},
			// 300 of 500/day used twice: 600 > 500 by 100 tokens = 100/500 of a day.
			{"tokens per day", Limits{TokensPerDay: 500}, 300, 4*time.Hour + 47*time.Minute, 4*time.Hour + 48*time.Minute + time.Second},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				l := b.newLimiter(t)
				r := Request{Tenant: "t", Limits: tt.limits, Tokens: tt.tokens}
				var d Decision
				for range 5 {
					if _, d, _ = l.Reserve(ctx, r); !d.Allowed {
						break
					}
				}
				if d.Allowed || d.RetryAfter < tt.min || d.RetryAfter > tt.max {
					t.Fatalf("got %+v, want denied with RetryAfter in [%v, %v]", d, tt.min, tt.max)
				}
			})
		}
	})
}

func TestSettleTwiceReleasesOnce(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, b backend) {
		l := b.newLimiter(t)
		r := Request{Tenant: "t", Limits: Limits{ConcurrentRequests: 1}}
		res, _ := mustReserve(t, l, r)
		res.Settle(ctx, 0)
		res.Settle(ctx, 0)
		flush(t, l)
		if _, d := mustReserve(t, l, r); !d.Allowed {
			t.Fatalf("after settle: %+v, want allowed", d)
		}
		if _, d := mustReserve(t, l, r); d.Allowed {
			t.Fatal("a second Settle released a slot it did not hold")
		}
	})
}

func TestTenantsAreIsolated(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		l := b.newLimiter(t)
		lim := Limits{RequestsPerMinute: 1}
		mustReserve(t, l, Request{Tenant: "a", Limits: lim})
		if _, d := mustReserve(t, l, Request{Tenant: "a", Limits: lim}); d.Allowed {
			t.Fatal("tenant a over its limit was admitted")
		}
		if _, d := mustReserve(t, l, Request{Tenant: "b", Limits: lim}); !d.Allowed {
			t.Fatalf("tenant b denied because of tenant a: %+v", d)
		}
	})
}

// hammer sends n concurrent Reserve calls spread over limiters and returns
// how many were admitted, the tokens admitted and the elapsed time around
// all of them.
func hammer(t *testing.T, limiters []Limiter, r Request, n int) (admitted, tokens int64, elapsed time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var degraded atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, d, err := limiters[i%len(limiters)].Reserve(context.Background(), r)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Degraded {
				degraded.Add(1)
			}
			if d.Allowed {
				atomic.AddInt64(&admitted, 1)
				atomic.AddInt64(&tokens, r.Tokens)
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed = time.Since(t0)
	if degraded.Load() != 0 {
		t.Fatalf("%d decisions were degraded (backend errors): the bound cannot be checked", degraded.Load())
	}
	return admitted, tokens, elapsed
}

// TestConcurrentBudgetBound hammers one small budget: a GCRA admits at most
// its capacity plus what refills while the test runs (elapsed·L/P), and, as
// nothing else consumes the budget, at least its capacity.
func TestConcurrentBudgetBound(t *testing.T) {
	tests := []struct {
		name      string
		limits    Limits
		tokens    int64
		perMinute int64 // the budget being hammered, per minute
		count     func(admitted, tokens int64) int64
	}{
		{"50 requests per minute", Limits{RequestsPerMinute: 50}, 0, 50,
			func(a, _ int64) int64 { return a }},
		{"10k tokens per minute", Limits{TokensPerMinute: 10_000}, 100, 10_000,
			func(_, tok int64) int64 { return tok }},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			for _, procs := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%d instances", tt.name, procs), func(t *testing.T) {
					var ls []Limiter
					if procs == 1 {
						ls = []Limiter{b.newLimiter(t)}
					} else {
						a, c := b.newPair(t)
						ls = []Limiter{a, c}
					}
					r := Request{Tenant: "hammered", Limits: tt.limits, Tokens: tt.tokens}
					a, tok, elapsed := hammer(t, ls, r, 200)
					got := tt.count(a, tok)
					bound := tt.perMinute + int64(float64(tt.perMinute)*elapsed.Seconds()/60)
					t.Logf("admitted %d (requests %d) in %v; bound %d", got, a, elapsed, bound)
					if got > bound {
						t.Fatalf("admitted %d > capacity %d + refill during %v = %d", got, tt.perMinute, elapsed, bound)
					}
					if got < tt.perMinute {
						t.Fatalf("admitted %d < capacity %d: budget left unused", got, tt.perMinute)
					}
				})
			}
		}
	})
}

func TestConcurrencyLimitUnderLoad(t *testing.T) {
	const limit, n = 5, 60
	forEachBackend(t, func(t *testing.T, b backend) {
		a, c := b.newPair(t)
		ls := []Limiter{a, c}
		r := Request{Tenant: "conc", Limits: Limits{ConcurrentRequests: limit}}
		var inFlight, maxInFlight, admitted atomic.Int64
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, d, err := ls[i%2].Reserve(context.Background(), r)
				if err != nil || !d.Allowed {
					return
				}
				admitted.Add(1)
				cur := inFlight.Add(1)
				for {
					m := maxInFlight.Load()
					if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				inFlight.Add(-1)
				res.Settle(context.Background(), 0)
			}()
		}
		wg.Wait()
		if maxInFlight.Load() > limit {
			t.Fatalf("%d requests in flight at once, limit %d", maxInFlight.Load(), limit)
		}
		if admitted.Load() < limit {
			t.Fatalf("only %d admitted, want at least %d", admitted.Load(), limit)
		}
	})
}
