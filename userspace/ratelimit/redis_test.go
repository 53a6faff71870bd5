package ratelimit

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/weir-gateway/weir/userspace/ratelimit/redistest"
)

// noHang is how long a call may take while Redis is down or hung before the
// test calls it a hang. It is a correctness bound (the call returns at all,
// near the configured timeout), not a speed goal.
const noHang = 2 * time.Second

func inspector(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewRedisValidates(t *testing.T) {
	tests := []struct {
		name string
		o    RedisOptions
		want string
	}{
		{"no address", RedisOptions{}, "address is empty"},
		{"bad policy", RedisOptions{Address: "x:1", OnError: "maybe"}, `on_redis_error "maybe"`},
		{"negative timeout", RedisOptions{Address: "x:1", Timeout: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRedis(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRedis() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestRedisKeysAreNamespacedAndExpire(t *testing.T) {
	srv := redistest.Start(t)
	l := newRedisLimiter(t, srv.Addr, "ns1:", OnErrorDeny)
	ctx := context.Background()
	r := Request{Tenant: "team a/b", Model: "gpt-4*", Tokens: 10,
		Limits:      Limits{RequestsPerMinute: 10, TokensPerMinute: 1000, TokensPerDay: 10000, ConcurrentRequests: 3},
		ModelLimits: &Limits{RequestsPerMinute: 5, ConcurrentRequests: 2}}
	if _, d := mustReserve(t, l, r); !d.Allowed {
		t.Fatalf("%+v", d)
	}
	c := inspector(t, srv.Addr)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"ns1:{team+a%2Fb}:t:rpm": true, "ns1:{team+a%2Fb}:t:tpm": true, "ns1:{team+a%2Fb}:t:tpd": true,
		"ns1:{team+a%2Fb}:t:conc": true, "ns1:{team+a%2Fb}:m:gpt-4%2A:rpm": true, "ns1:{team+a%2Fb}:m:gpt-4%2A:conc": true,
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("key %q has TTL %v (%v), want a positive TTL", k, ttl, err)
		}
	}
	// The rpm key expires when its bucket is full again: 1/10 of a minute.
	if ttl := c.PTTL(ctx, "ns1:{team+a%2Fb}:t:rpm").Val(); ttl > 6*time.Second {
		t.Errorf("rpm TTL %v, want ≤ 6s", ttl)
	}
}

func TestRedisScriptCacheFlushed(t *testing.T) {
	srv := redistest.Start(t)
	l := newRedisLimiter(t, srv.Addr, "flush:", OnErrorDeny)
	c := inspector(t, srv.Addr)
	ctx := context.Background()
	r := Request{Tenant: "t", Limits: Limits{ConcurrentRequests: 1, TokensPerMinute: 1000}, Tokens: 10}
	for i := range 3 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, d := mustReserve(t, l, r)
		if !d.Allowed || d.Degraded {
			t.Fatalf("round %d after SCRIPT FLUSH: %+v", i, d)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res.Settle(ctx, 10)
		flush(t, l)
	}
	// Had a settle been lost, the single slot would still be held.
	if n := c.ZCard(ctx, "flush:{t}:t:conc").Val(); n != 0 {
		t.Fatalf("%d leases left after settling every reservation", n)
	}
}

func TestRedisLeaseExpires(t *testing.T) {
	srv := redistest.Start(t)
	l, err := NewRedis(RedisOptions{Address: srv.Addr, Prefix: "lease:", LeaseTTL: 300 * time.Millisecond, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Tenant: "t", Limits: Limits{ConcurrentRequests: 1}}
	mustReserve(t, l, r) // never settled: a crashed process
	_ = l.Close()

	other := newRedisLimiter(t, srv.Addr, "lease:", OnErrorDeny)
	if _, d := mustReserve(t, other, r); d.Allowed {
		t.Fatal("slot of an unexpired lease was given out")
	}
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		if _, d := mustReserve(t, other, r); d.Allowed {
			return
		}
	}
	t.Fatal("slot never came back after its lease expired")
}

func TestRedisDeniedBudgetIsCachedLocally(t *testing.T) {
	srv := redistest.Start(t)
	m := NewMetrics()
	l, err := NewRedis(RedisOptions{Address: srv.Addr, Prefix: "cache:", OnError: OnErrorDeny, Timeout: 3 * time.Second}, WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	c := inspector(t, srv.Addr)
	lim := Limits{TokensPerMinute: 1000}
	mustReserve(t, l, Request{Tenant: "t", Limits: lim, Tokens: 900})
	if _, d := mustReserve(t, l, Request{Tenant: "t", Limits: lim, Tokens: 500}); d.Allowed {
		t.Fatal("over budget admitted")
	}
	calls := func() int64 { return evalCalls(t, c) }
	before := calls()
	_, d := mustReserve(t, l, Request{Tenant: "t", Limits: lim, Tokens: 600})
	if d.Allowed || d.Limit != TokensPerMinute || d.RetryAfter <= 0 || d.Degraded {
		t.Fatalf("cached denial: %+v", d)
	}
	if got := calls(); got != before {
		t.Fatalf("a request known to be over budget cost %d Redis calls, want 0", got-before)
	}
	if got := testutil.ToFloat64(m.Rejections.WithLabelValues("t", TokensPerMinute)); got != 2 {
		t.Fatalf("rejections = %v, want 2 (one from Redis, one from the cache)", got)
	}
	// A smaller request may fit: it is asked of Redis.
	if _, d := mustReserve(t, l, Request{Tenant: "t", Limits: lim, Tokens: 50}); !d.Allowed {
		t.Fatalf("small request: %+v, want allowed", d)
	}
	if got := calls(); got != before+1 {
		t.Fatalf("small request cost %d Redis calls, want 1", got-before)
	}
}

// evalCalls counts script calls the server executed.
func evalCalls(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\r\n") {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		for _, f := range strings.Split(strings.SplitN(line, ":", 2)[1], ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				x, _ := strconv.ParseInt(v, 10, 64)
				n += x
			}
		}
	}
	return n
}

func TestRedisDownDecidesByPolicy(t *testing.T) {
	for _, policy := range []OnError{OnErrorAllow, OnErrorDeny} {
		t.Run(string(policy), func(t *testing.T) {
			srv := redistest.Start(t)
			l, err := NewRedis(RedisOptions{Address: srv.Addr, Prefix: "down:", OnError: policy, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			r := Request{Tenant: "t", Limits: Limits{RequestsPerMinute: 100, ConcurrentRequests: 10}, Tokens: 5}
			res, d := mustReserve(t, l, r)
			if !d.Allowed || d.Degraded {
				t.Fatalf("before the outage: %+v", d)
			}
			srv.Kill()
			for i := range 5 { // through failures, then with the breaker open
				start := time.Now()
				res2, d, err := l.Reserve(ctx, r)
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("call %d with Redis down: %v", i, took)
				if took > noHang {
					t.Fatalf("call %d with Redis down took %v", i, took)
				}
				if !d.Degraded || d.Err == nil || d.Allowed != (policy == OnErrorAllow) {
					t.Fatalf("call %d with Redis down: %+v", i, d)
				}
				if !d.Allowed && (d.Limit != BackendUnavailable || d.Message() == "" || d.RetryAfter <= 0) {
					t.Fatalf("deny decision lacks limit/message/retry: %+v", d)
				}
				if res2 != nil {
					res2.Settle(ctx, 5)
				}
			}
			start := time.Now()
			res.Settle(ctx, 5)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > noHang {
				t.Fatalf("settle and close with Redis down took %v", took)
			}
		})
	}
}

// TestRedisHungDecidesWithinTimeout uses a server that accepts connections
// and never answers: every call must end at the timeout.
func TestRedisHungDecidesWithinTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	l, err := NewRedis(RedisOptions{Address: ln.Addr().String(), OnError: OnErrorDeny, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var wg2 sync.WaitGroup
	for range 4 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			start := time.Now()
			_, d, err := l.Reserve(context.Background(), Request{Tenant: "t", Limits: Limits{RequestsPerMinute: 1}})
			if took := time.Since(start); took > noHang {
				t.Errorf("call against a hung Redis took %v", took)
			}
			if err != nil || d.Allowed || !d.Degraded {
				t.Errorf("hung Redis: %+v, %v; want a degraded deny", d, err)
			}
		}()
	}
	wg2.Wait()
}

func TestRedisCanceledContextIsNotABackendError(t *testing.T) {
	srv := redistest.Start(t)
	l := newRedisLimiter(t, srv.Addr, "cancel:", OnErrorDeny)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, d, err := l.Reserve(ctx, Request{Tenant: "t", Limits: Limits{RequestsPerMinute: 1}})
	if !errors.Is(err, context.Canceled) || d.Degraded {
		t.Fatalf("Reserve(canceled) = %+v, %v; want context.Canceled", d, err)
	}
	if l.breaker.fails.Load() != 0 {
		t.Fatal("a canceled client counted as a Redis failure")
	}
}

func TestRedisClosed(t *testing.T) {
	l, err := NewRedis(RedisOptions{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := l.Reserve(context.Background(), Request{Tenant: "t"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reserve after Close = %v, want ErrClosed", err)
	}
}
