package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeBlocker records Block calls, as the kernel guard would apply them.
type fakeBlocker struct {
	mu     sync.Mutex
	blocks []blockCall
	err    error
}

type blockCall struct {
	tenant string
	until  time.Time
}

func (f *fakeBlocker) Block(tenant string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks = append(f.blocks, blockCall{tenant, until})
	return f.err
}

func (f *fakeBlocker) calls() []blockCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]blockCall(nil), f.blocks...)
}

// scripted is a Limiter answering from a list of decisions.
type scripted struct {
	mu        sync.Mutex
	decisions []Decision
}

func (s *scripted) Reserve(_ context.Context, r Request) (Reservation, Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.decisions[0]
	s.decisions = s.decisions[1:]
	d.Tenant = r.Tenant
	if d.Allowed {
		return nopReservation{}, d, nil
	}
	return nil, d, nil
}

func (s *scripted) Close() error { return nil }

func TestKernelBlockAfterConsecutiveRejections(t *testing.T) {
	allow := Decision{Allowed: true}
	deny := Decision{Limit: RequestsPerMinute}
	down := Decision{Limit: BackendUnavailable, Degraded: true}
	tests := []struct {
		name      string
		decisions []Decision
		wantCalls int
	}{
		{"below threshold", []Decision{deny, deny}, 0},
		{"at threshold", []Decision{deny, deny, deny}, 1},
		{"an admission resets the streak", []Decision{deny, deny, allow, deny, deny}, 0},
		{"backend failures do not count", []Decision{down, down, down, down, deny, deny}, 0},
		{"reported once per block", []Decision{deny, deny, deny, deny, deny, deny, deny}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBlocker{}
			m := NewMetrics()
			l := WithKernelBlock(&scripted{decisions: tt.decisions}, b, 3, time.Minute, WithMetrics(m))
			before := time.Now()
			for range tt.decisions {
				if _, _, err := l.Reserve(context.Background(), Request{Tenant: "flood"}); err != nil {
					t.Fatal(err)
				}
			}
			calls := b.calls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("Block called %d times, want %d: %v", len(calls), tt.wantCalls, calls)
			}
			for _, c := range calls {
				if c.tenant != "flood" || c.until.Before(before.Add(time.Minute)) || c.until.After(time.Now().Add(time.Minute)) {
					t.Fatalf("Block(%q, %v), want flood until now+1m", c.tenant, c.until)
				}
			}
			if got := testutil.ToFloat64(m.KernelBlocks.WithLabelValues("flood", "ok")); got != float64(tt.wantCalls) {
				t.Fatalf("kernel block metric %v, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestKernelBlockAgainAfterExpiry(t *testing.T) {
	b := &fakeBlocker{err: errors.New("map full")}
	m := NewMetrics()
	lim := &scripted{decisions: []Decision{{Limit: TokensPerDay}, {Limit: TokensPerDay}, {Limit: TokensPerDay}}}
	l := WithKernelBlock(lim, b, 1, time.Minute, WithMetrics(m)).(*kernelBlock)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	_, _, _ = l.Reserve(ctx, Request{Tenant: "t"})
	_, _, _ = l.Reserve(ctx, Request{Tenant: "t"}) // still blocked: no second report
	now = now.Add(time.Minute)
	_, _, _ = l.Reserve(ctx, Request{Tenant: "t"})
	if n := len(b.calls()); n != 2 {
		t.Fatalf("Block called %d times, want 2 (once per block period)", n)
	}
	if got := testutil.ToFloat64(m.KernelBlocks.WithLabelValues("t", "error")); got != 2 {
		t.Fatalf("failed blocks counted %v, want 2", got)
	}
}

func TestKernelBlockDisabled(t *testing.T) {
	inner := NewLocal()
	if l := WithKernelBlock(inner, &fakeBlocker{}, 0, time.Minute); l != Limiter(inner) {
		t.Fatal("after=0 must return the limiter unchanged")
	}
	if l := WithKernelBlock(inner, nil, 3, time.Minute); l != Limiter(inner) {
		t.Fatal("a nil blocker must return the limiter unchanged")
	}
}

// TestKernelBlockOnRealLimiter runs the hand-off on the local limiter.
func TestKernelBlockOnRealLimiter(t *testing.T) {
	b := &fakeBlocker{}
	l := WithKernelBlock(NewLocal(), b, 5, time.Minute)
	r := Request{Tenant: "greedy", Limits: Limits{RequestsPerMinute: 2}}
	for range 2 + 4 {
		mustReserve(t, l, r)
	}
	if n := len(b.calls()); n != 0 {
		t.Fatalf("blocked after 4 rejections, threshold 5")
	}
	mustReserve(t, l, r)
	if n := len(b.calls()); n != 1 {
		t.Fatalf("Block called %d times after 5 rejections, want 1", n)
	}
}
