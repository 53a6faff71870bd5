package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/ratelimit/redistest"
)

// benchRequest is a typical request: every tenant limit, a model limit and a
// token estimate, with budgets large enough never to deny.
func benchRequest(tenant string) Request {
	return Request{
		Tenant: tenant, Model: "gpt-4o*", Tokens: 1500,
		Limits:      Limits{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, TokensPerDay: 1 << 50, ConcurrentRequests: 1 << 20},
		ModelLimits: &Limits{TokensPerMinute: 1 << 50},
	}
}

func benchReserveSettle(b *testing.B, l Limiter, tenants int) {
	ctx := context.Background()
	reqs := make([]Request, tenants)
	for i := range reqs {
		reqs[i] = benchRequest("tenant-" + strconv.Itoa(i))
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := reqs[int(seq.Add(1))%tenants]
		for pb.Next() {
			res, d, err := l.Reserve(ctx, r)
			if err != nil || !d.Allowed || d.Degraded {
				b.Fatalf("%+v %v", d, err)
			}
			res.Settle(ctx, 1200)
		}
	})
}

func BenchmarkLocalReserveSettle(b *testing.B) {
	for _, tenants := range []int{1, 64} {
		b.Run("tenants="+strconv.Itoa(tenants), func(b *testing.B) {
			benchReserveSettle(b, NewLocal(), tenants)
		})
	}
}

func BenchmarkRedisReserveSettle(b *testing.B) {
	srv := redistest.Start(b)
	for _, tenants := range []int{1, 64} {
		b.Run("tenants="+strconv.Itoa(tenants), func(b *testing.B) {
			l, err := NewRedis(RedisOptions{Address: srv.Addr, Prefix: uniquePrefix(b), OnError: OnErrorDeny})
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Ping(context.Background()); err != nil {
				b.Fatal(err)
			}
			benchReserveSettle(b, l, tenants)
			b.StopTimer()
			_ = l.Close()
		})
	}
}

// BenchmarkSetHeaders is the x-ratelimit-* headers of an allowed request
// with request and token limits, into a fresh header map each time.
func BenchmarkSetHeaders(b *testing.B) {
	d := Decision{Allowed: true,
		Requests: Quota{Limit: 1000000000, Remaining: 999999999, Reset: 60 * time.Millisecond},
		Tokens:   Quota{Limit: 1000000000000, Remaining: 999999998500, Reset: 90 * time.Millisecond}}
	b.ReportAllocs()
	for b.Loop() {
		d.SetHeaders(make(http.Header, 8))
	}
}
