package ratelimit

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weir-gateway/weir/userspace/sockio"
)

//go:embed lua/reserve.lua
var reserveLua string

//go:embed lua/settle.lua
var settleLua string

var (
	reserveScript = redis.NewScript(reserveLua)
	settleScript  = redis.NewScript(settleLua)
)

// Defaults of RedisOptions.
const (
	DefaultRedisTimeout = 200 * time.Millisecond
	DefaultRedisPrefix  = "weir:"
	// DefaultLeaseTTL bounds how long a concurrency slot is held without
	// being settled. A request that runs longer stops counting against
	// concurrent_requests; a crashed process's slots come back after it.
	DefaultLeaseTTL = 10 * time.Minute
)

// Tuning of the Redis limiter.
const (
	// breakerFailures consecutive failed calls open the breaker: for
	// breakerOpen every request is decided by on_redis_error without
	// waiting for a timeout, then calls are tried again.
	breakerFailures = 3
	breakerOpen     = time.Second
	// denyCacheSize bounds the local memory of exhausted budgets.
	denyCacheSize = 4096
	// keyCacheSize bounds the cache of rendered key names.
	keyCacheSize = 16384
	// settleQueue is how many settlements may wait to be sent; beyond it
	// they are dropped (and counted).
	settleQueue   = 4096
	settleWorkers = 2
	settleBatch   = 64
)

// RedisOptions configures NewRedis. Its fields follow config.Redis plus the
// policy fields of config.RateLimit.
type RedisOptions struct {
	Address  string
	Password string
	DB       int
	// Timeout bounds every Redis call (dial, write, read); default DefaultRedisTimeout.
	Timeout time.Duration
	// Prefix namespaces keys; default DefaultRedisPrefix.
	Prefix string
	// OnError decides requests while Redis is unreachable; "" means allow.
	OnError OnError
	// LeaseTTL is the lifetime of a concurrency lease; default DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// Redis is a Limiter whose budgets live in Redis and are shared by every
// weir process using the same Redis and prefix. Reserve costs one EVALSHA
// (one round trip) or none: a budget known to be exhausted is denied locally
// until its retry time. Settle is queued and sent in pipelined batches off the
// request path.
//
// Keys are "<prefix>{<tenant>}:t:<limit>" and
// "<prefix>{<tenant>}:m:<model>:<limit>" (names query-escaped; the hash tag
// keeps one tenant in one Redis Cluster slot). Rate keys expire when their
// bucket is full again; lease sets expire LeaseTTL after their last lease.
type Redis struct {
	o       options
	rdb     *redis.Client
	timeout time.Duration
	prefix  string
	onError OnError
	lease   time.Duration
	// memberPrefix makes lease members unique across processes.
	memberPrefix string
	memberSeq    atomic.Uint64

	breaker breaker
	denied  denyCache

	keysMu sync.RWMutex
	keys   map[stateKey]*[numKinds]string

	queue     chan settleJob
	quit      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	workers   sync.WaitGroup
	// pending counts queued or in-flight settlements (tests wait for 0).
	pending atomic.Int64
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis limiter. It does not connect: the first request
// does (see Ping for a readiness check).
func NewRedis(cfg RedisOptions, opts ...Option) (*Redis, error) {
	if cfg.Address == "" {
		return nil, errors.New("ratelimit: redis address is empty")
	}
	switch cfg.OnError {
	case "":
		cfg.OnError = OnErrorAllow
	case OnErrorAllow, OnErrorDeny:
	default:
		return nil, fmt.Errorf("ratelimit: on_redis_error %q is not allow or deny", cfg.OnError)
	}
	if cfg.Timeout < 0 || cfg.LeaseTTL < 0 {
		return nil, errors.New("ratelimit: negative redis timeout or lease")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRedisTimeout
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	l := &Redis{
		o: buildOptions(opts),
		rdb: redis.NewClient(&redis.Options{
			Addr: cfg.Address,
			// go-redis's own dialer, with raw socket reads and writes (see
			// package sockio): a limiter round trip per request otherwise
			// wakes the runtime's monitor thread twice.
			Dialer:                sockio.Dial(&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 5 * time.Minute}),
			Password:              cfg.Password,
			DB:                    cfg.DB,
			DialTimeout:           cfg.Timeout,
			ReadTimeout:           cfg.Timeout,
			WriteTimeout:          cfg.Timeout,
			PoolTimeout:           cfg.Timeout,
			ContextTimeoutEnabled: true,
			// A retry would double the worst-case latency; on_redis_error decides instead.
			MaxRetries:    -1,
			DialerRetries: 1,
			// CLIENT SETINFO would cost a round trip per new connection.
			DisableIdentity: true,
		}),
		timeout:      cfg.Timeout,
		prefix:       cfg.Prefix,
		onError:      cfg.OnError,
		lease:        cfg.LeaseTTL,
		memberPrefix: hex.EncodeToString(rnd[:]) + ":",
		keys:         make(map[stateKey]*[numKinds]string),
		queue:        make(chan settleJob, settleQueue),
		quit:         make(chan struct{}),
	}
	l.denied.m = make(map[denyKey]denyEntry)
	for range settleWorkers {
		l.workers.Add(1)
		go l.settleWorker()
	}
	return l, nil
}

// Ping checks that Redis answers within the timeout and loads the scripts.
func (l *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := reserveScript.Load(ctx, l.rdb).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis ping: %w", err)
	}
	if err := settleScript.Load(ctx, l.rdb).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis ping: %w", err)
	}
	return nil
}

// Reserve implements Limiter.
func (l *Redis) Reserve(ctx context.Context, r Request) (Reservation, Decision, error) {
	if l.closed.Load() {
		return nil, Decision{}, ErrClosed
	}
	p, err := prepare(&r)
	if err != nil {
		return nil, Decision{}, err
	}
	if p.n == 0 {
		return nopReservation{}, Decision{Allowed: true, Tenant: r.Tenant, Model: r.Model}, nil
	}
	// Redis keeps microseconds: round every increment up to one so the
	// Go-side arithmetic equals the script's.
	for i := 0; i < p.n; i++ {
		p.checks[i].incr = ceilDur(p.checks[i].incr, time.Microsecond)
	}
	now := l.o.clock()
	if d, ok := l.denied.lookup(&r, &p, now); ok {
		l.o.metrics.rejected(&d)
		return nil, d, nil
	}
	if !l.breaker.closed(now) {
		return l.degraded(&r, errors.New("redis unavailable (circuit open)"))
	}

	keys := make([]string, p.n)
	args := make([]any, 2, 2+3*p.n)
	member := l.memberPrefix + strconv.FormatUint(l.memberSeq.Add(1), 36)
	args[0], args[1] = member, l.lease.Microseconds()
	for i := 0; i < p.n; i++ {
		c := &p.checks[i]
		keys[i] = l.key(r.Tenant, r.Model, c)
		if c.kind == kindConc {
			args = append(args, "c", c.limit, 0)
		} else {
			args = append(args, "g", c.incr.Microseconds(), c.period().Microseconds())
		}
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	start := time.Now()
	res, err := reserveScript.Run(cctx, l.rdb, keys, args...).Int64Slice()
	cancel()
	if err == nil && len(res) != p.n+1 {
		err = fmt.Errorf("reserve script returned %d values, want %d", len(res), p.n+1)
	}
	if err != nil && ctx.Err() != nil {
		// The client went away; that says nothing about Redis.
		return nil, Decision{}, fmt.Errorf("ratelimit: reserve: %w", ctx.Err())
	}
	l.o.metrics.redis("reserve", start, err)
	if err != nil {
		l.breaker.failure(l.o.clock(), l.o.logger, err)
		return l.degraded(&r, fmt.Errorf("ratelimit: redis reserve: %w", err))
	}
	l.breaker.success()

	var used, rem [maxChecks]int64
	for i := 0; i < p.n; i++ {
		used[i] = res[i+1]
		if p.checks[i].kind != kindConc {
			used[i] *= int64(time.Microsecond)
		}
	}
	allowed := res[0] == 1
	d := p.decide(&r, &used, allowed, &rem)
	l.o.metrics.decision(&p, &d, &rem)
	if !allowed {
		l.denied.store(&r, &p, &used, d, now)
		return nil, d, nil
	}
	return &redisReservation{l: l, keys: keys, member: member, p: p}, d, nil
}

// degraded decides a request by on_redis_error.
func (l *Redis) degraded(r *Request, err error) (Reservation, Decision, error) {
	d := Decision{Allowed: l.onError == OnErrorAllow, Tenant: r.Tenant, Model: r.Model, Degraded: true, Err: err}
	if !d.Allowed {
		d.Limit, d.Scope, d.RetryAfter = BackendUnavailable, ScopeTenant, breakerOpen
	}
	l.o.metrics.degraded(&d)
	if !d.Allowed {
		return nil, d, nil
	}
	return nopReservation{}, d, nil
}

var kindKeys = [numKinds]string{"rpm", "tpm", "tpd", "conc"}

// key renders (and caches) the Redis key of one check.
func (l *Redis) key(tenant, model string, c *check) string {
	k := stateKey{tenant: tenant, scope: c.scope}
	if c.scope == scopeModel {
		k.model = model
	}
	l.keysMu.RLock()
	ks := l.keys[k]
	l.keysMu.RUnlock()
	if ks != nil {
		return ks[c.kind]
	}
	base := l.prefix + "{" + url.QueryEscape(tenant) + "}:t:"
	if c.scope == scopeModel {
		base = l.prefix + "{" + url.QueryEscape(tenant) + "}:m:" + url.QueryEscape(model) + ":"
	}
	ks = new([numKinds]string)
	for i := range ks {
		ks[i] = base + kindKeys[i]
	}
	l.keysMu.Lock()
	if len(l.keys) < keyCacheSize {
		l.keys[k] = ks
	}
	l.keysMu.Unlock()
	return ks[c.kind]
}

// Close flushes queued settlements (each batch bounded by the timeout) and
// closes the connections.
func (l *Redis) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.quit)
	})
	l.workers.Wait()
	if err := l.rdb.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("ratelimit: close redis: %w", err)
	}
	return nil
}

type redisReservation struct {
	l       *Redis
	keys    []string
	member  string
	p       plan
	settled atomic.Bool
}

type settleJob struct {
	keys []string
	args []any
}

// Settle implements Reservation. Only keys that change are sent: a request
// whose estimate was exact and that holds no concurrency slot costs nothing.
func (r *redisReservation) Settle(_ context.Context, actual int64) {
	if !r.settled.CompareAndSwap(false, true) {
		return
	}
	actual = max(actual, 0)
	var j settleJob
	for i := 0; i < r.p.n; i++ {
		c := &r.p.checks[i]
		switch c.kind {
		case kindConc:
			j.keys = append(j.keys, r.keys[i])
			j.args = append(j.args, "c", r.member, 0)
		case kindTPM, kindTPD:
			// Charges round up to a microsecond, refunds down.
			d := c.settleIncr(actual)
			if d > 0 {
				d = ceilDur(d, time.Microsecond)
			}
			if us := d.Microseconds(); us != 0 {
				j.keys = append(j.keys, r.keys[i])
				j.args = append(j.args, "g", us, c.period().Microseconds())
			}
		}
	}
	if len(j.keys) == 0 {
		return
	}
	r.l.pending.Add(1)
	select {
	case r.l.queue <- j:
	default:
		r.l.pending.Add(-1)
		r.l.o.metrics.settleDropped(1)
	}
}

func (l *Redis) settleWorker() {
	defer l.workers.Done()
	batch := make([]settleJob, 0, settleBatch)
	for {
		select {
		case j := <-l.queue:
			batch = append(batch[:0], j)
			batch = l.fill(batch)
			l.sendSettles(batch)
		case <-l.quit:
			// Flush what is queued, then stop.
			for {
				batch = l.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				l.sendSettles(batch)
			}
		}
	}
}

// fill adds queued jobs to batch without blocking.
func (l *Redis) fill(batch []settleJob) []settleJob {
	for len(batch) < settleBatch {
		select {
		case j := <-l.queue:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// sendSettles pipelines a batch of settlements: one round trip per batch.
func (l *Redis) sendSettles(batch []settleJob) {
	defer l.pending.Add(-int64(len(batch)))
	if !l.breaker.closed(l.o.clock()) {
		l.o.metrics.settleDropped(len(batch))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	start := time.Now()
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, j := range batch {
		cmds[i] = settleScript.EvalSha(ctx, pipe, j.keys, j.args...)
	}
	_, err := pipe.Exec(ctx)
	failed := 0
	for i, c := range cmds {
		cerr := c.Err()
		if cerr != nil && redis.HasErrorPrefix(cerr, "NOSCRIPT") {
			// Redis lost its script cache (restart, SCRIPT FLUSH).
			cerr = settleScript.Run(ctx, l.rdb, batch[i].keys, batch[i].args...).Err()
		}
		if cerr != nil {
			failed++
			err = cerr
		}
	}
	if failed == 0 {
		err = nil
	}
	l.o.metrics.redis("settle", start, err)
	if err != nil {
		l.o.metrics.settleDropped(failed)
		l.breaker.failure(l.o.clock(), l.o.logger, err)
		return
	}
	l.breaker.success()
}

// breaker stops calling an unreachable Redis for a while, so that requests
// are decided at once instead of each waiting for the timeout.
type breaker struct {
	fails     atomic.Int32
	openUntil atomic.Int64
}

func (b *breaker) closed(now int64) bool { return now >= b.openUntil.Load() }

func (b *breaker) success() {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
}

func (b *breaker) failure(now int64, log interface {
	Warn(string, ...any)
}, err error) {
	if b.fails.Add(1) < breakerFailures {
		return
	}
	b.fails.Store(0)
	if b.openUntil.Swap(now+int64(breakerOpen)) <= now {
		log.Warn("ratelimit: redis unreachable, deciding by on_redis_error", "for", breakerOpen, "err", err)
	}
}

// denyCache remembers budgets that Redis reported exhausted, so a tenant that
// keeps sending is denied without a round trip until its retry time. An entry
// denies only requests that cost at least as much as the denied one: a
// smaller request may fit earlier and is asked of Redis. Refunds by other
// requests may make a cached denial slightly too long, never too short.
type denyCache struct {
	mu sync.Mutex
	n  atomic.Int32
	m  map[denyKey]denyEntry
}

type denyKey struct {
	tenant, model string
	scope         uint8
	kind          kind
}

type denyEntry struct {
	until int64 // local monotonic ns
	cost  int64
	d     Decision
}

func (c *denyCache) key(r *Request, ch *check) denyKey {
	k := denyKey{tenant: r.Tenant, scope: ch.scope, kind: ch.kind}
	if ch.scope == scopeModel {
		k.model = r.Model
	}
	return k
}

func (c *denyCache) lookup(r *Request, p *plan, now int64) (Decision, bool) {
	if c.n.Load() == 0 {
		return Decision{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < p.n; i++ {
		ch := &p.checks[i]
		if ch.kind == kindConc {
			continue
		}
		k := c.key(r, ch)
		e, ok := c.m[k]
		if !ok {
			continue
		}
		if now >= e.until {
			delete(c.m, k)
			c.n.Add(-1)
			continue
		}
		if ch.cost >= e.cost {
			d := e.d
			d.Model = r.Model
			d.RetryAfter = time.Duration(e.until - now)
			return d, true
		}
	}
	return Decision{}, false
}

func (c *denyCache) store(r *Request, p *plan, used *[maxChecks]int64, d Decision, now int64) {
	if d.Limit == ConcurrentRequests || d.RetryAfter <= 0 {
		return
	}
	for i := 0; i < p.n; i++ {
		ch := &p.checks[i]
		if kindNames[ch.kind] != d.Limit || scopeNames[ch.scope] != d.Scope || ch.admits(used[i]) {
			continue
		}
		k := c.key(r, ch)
		c.mu.Lock()
		if _, ok := c.m[k]; !ok {
			if len(c.m) >= denyCacheSize {
				c.evict(now)
			}
			c.n.Add(1)
		}
		c.m[k] = denyEntry{until: now + int64(d.RetryAfter), cost: ch.cost, d: d}
		c.mu.Unlock()
		return
	}
}

// evict makes room: expired entries first, else any entry.
func (c *denyCache) evict(now int64) {
	for k, e := range c.m {
		if now >= e.until {
			delete(c.m, k)
			c.n.Add(-1)
		}
	}
	for k := range c.m {
		if len(c.m) < denyCacheSize {
			return
		}
		delete(c.m, k)
		c.n.Add(-1)
	}
}
