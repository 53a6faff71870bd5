package httproute

import (
	"cmp"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
)

// maxLimitClients bounds the client addresses a route's limiter tracks.
// Past it, buckets that have refilled are dropped first; if every client
// is still active the table starts over, failing open rather than
// growing without bound under a spoofed-source flood (the kernel guard is
// the defence against those).
const maxLimitClients = 65536

const defaultBurstMultiplier = 5

// limiter enforces a route's per-client limits.
type limiter struct {
	exempt []netip.Prefix
	conns  int
	// buckets are the request rate limits (per second, per minute), each
	// a token bucket per client; both apply, as ingress-nginx's two zones.
	buckets []bucketSpec

	mu      sync.Mutex
	clients map[netip.Addr]*clientState
	now     func() time.Time
}

// bucketSpec is a refill rate in tokens per second and a bucket size.
type bucketSpec struct{ rate, burst float64 }

type clientState struct {
	tokens   [2]float64 // one per bucketSpec
	last     time.Time
	inflight int
}

func newLimiter(l config.RouteLimits) (*limiter, error) {
	lim := &limiter{conns: l.Connections, clients: map[netip.Addr]*clientState{}, now: time.Now}
	mult := float64(cmp.Or(l.BurstMultiplier, defaultBurstMultiplier))
	if n := l.RequestsPerSecond; n > 0 {
		lim.buckets = append(lim.buckets, bucketSpec{rate: float64(n), burst: float64(n) * mult})
	}
	if n := l.RequestsPerMinute; n > 0 {
		lim.buckets = append(lim.buckets, bucketSpec{rate: float64(n) / 60, burst: float64(n) * mult})
	}
	for _, s := range l.Exempt {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("limits.exempt: %w", err)
		}
		lim.exempt = append(lim.exempt, p)
	}
	return lim, nil
}

// acquire admits one request from ip and returns the function that ends
// it, or false when the client is over a limit.
func (l *limiter) acquire(ip netip.Addr) (release func(), ok bool) {
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return func() {}, true
		}
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[ip]
	if c == nil {
		if len(l.clients) >= maxLimitClients {
			l.sweep(now)
		}
		c = &clientState{last: now}
		for i, b := range l.buckets {
			c.tokens[i] = b.burst
		}
		l.clients[ip] = c
	}
	elapsed := now.Sub(c.last).Seconds()
	c.last = now
	over := false
	for i, b := range l.buckets {
		c.tokens[i] = min(b.burst, c.tokens[i]+elapsed*b.rate)
		over = over || c.tokens[i] < 1
	}
	if over || l.conns > 0 && c.inflight >= l.conns {
		return nil, false
	}
	for i := range l.buckets {
		c.tokens[i]--
	}
	c.inflight++
	return func() {
		l.mu.Lock()
		c.inflight--
		l.mu.Unlock()
	}, true
}

// sweep drops idle clients whose bucket is full again; called with mu held.
func (l *limiter) sweep(now time.Time) {
	for ip, c := range l.clients {
		full := c.inflight == 0
		for i, b := range l.buckets {
			full = full && c.tokens[i]+now.Sub(c.last).Seconds()*b.rate >= b.burst
		}
		if full {
			delete(l.clients, ip)
		}
	}
	if len(l.clients) >= maxLimitClients {
		clear(l.clients)
	}
}
