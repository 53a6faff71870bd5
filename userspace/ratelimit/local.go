package ratelimit

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Option configures a limiter.
type Option func(*options)

type options struct {
	metrics *Metrics
	logger  *slog.Logger
	// clock returns monotonic nanoseconds; tests replace it.
	clock func() int64
}

// WithMetrics records decisions and backend calls in m.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithLogger sets where backend errors are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func withClock(c func() int64) Option { return func(o *options) { o.clock = c } }

func buildOptions(opts []Option) options {
	start := time.Now()
	o := options{logger: slog.Default(), clock: func() int64 { return int64(time.Since(start)) }}
	for _, f := range opts {
		f(&o)
	}
	return o
}

const (
	numShards = 64
	// sweepEvery is how often a shard drops idle state. Idle state (every
	// bucket full, no slot held) is identical to absent state, so dropping it
	// never changes a decision; it only bounds memory after tenants or model
	// patterns disappear in a reload.
	sweepEvery = time.Minute
)

// Local is an in-process Limiter. State is sharded by tenant × model with a
// mutex per state, so requests of different tenants never contend.
type Local struct {
	o      options
	seed   maphash.Seed
	shards [numShards]shard
}

type shard struct {
	mu        sync.RWMutex
	m         map[stateKey]*state
	lastSweep atomic.Int64
	_         [40]byte // keep shards on separate cache lines
}

type stateKey struct {
	tenant, model string
	scope         uint8
}

// state holds one scope's limits: the TATs of the three rate kinds
// (monotonic nanoseconds) and the slots held.
type state struct {
	mu   sync.Mutex
	tat  [3]int64
	conc int64
	// dead is set by the sweeper once the state left the map.
	dead bool
}

// NewLocal returns an in-process limiter.
func NewLocal(opts ...Option) *Local {
	l := &Local{o: buildOptions(opts), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[stateKey]*state)
	}
	return l
}

var _ Limiter = (*Local)(nil)

// lock returns the live state of k, locked. Callers read the clock after
// locking: a time read before could be older than the TAT another request
// just wrote, which would count that gap as used budget.
func (l *Local) lock(k stateKey) (*state, *shard) {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(k.tenant)
	h.WriteByte(0)
	h.WriteString(k.model)
	h.WriteByte(k.scope)
	sh := &l.shards[h.Sum64()%numShards]
	for {
		sh.mu.RLock()
		s := sh.m[k]
		sh.mu.RUnlock()
		if s == nil {
			sh.mu.Lock()
			if s = sh.m[k]; s == nil {
				s = &state{}
				sh.m[k] = s
			}
			sh.mu.Unlock()
		}
		s.mu.Lock()
		if !s.dead {
			return s, sh
		}
		s.mu.Unlock()
	}
}

// unlock releases the states and lets their shards sweep if it is time.
func unlock(st *[2]*state, sh *[2]*shard, now int64) {
	for i, s := range st {
		if s == nil {
			continue
		}
		s.mu.Unlock()
		if last := sh[i].lastSweep.Load(); now-last > int64(sweepEvery) && sh[i].lastSweep.CompareAndSwap(last, now) {
			sh[i].sweep(now)
		}
	}
}

func (sh *shard) sweep(now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, s := range sh.m {
		if !s.mu.TryLock() {
			continue
		}
		if s.conc == 0 && s.tat[0] <= now && s.tat[1] <= now && s.tat[2] <= now {
			s.dead = true
			delete(sh.m, k)
		}
		s.mu.Unlock()
	}
}

// Reserve implements Limiter.
func (l *Local) Reserve(_ context.Context, r Request) (Reservation, Decision, error) {
	p, err := prepare(&r)
	if err != nil {
		return nil, Decision{}, err
	}
	if p.n == 0 {
		return nopReservation{}, Decision{Allowed: true, Tenant: r.Tenant, Model: r.Model}, nil
	}
	var st [2]*state
	var sh [2]*shard
	st[scopeTenant], sh[scopeTenant] = l.lock(stateKey{tenant: r.Tenant, scope: scopeTenant})
	if p.hasModel {
		// Always tenant first, then model: the only lock order, so no deadlock.
		st[scopeModel], sh[scopeModel] = l.lock(stateKey{tenant: r.Tenant, model: r.Model, scope: scopeModel})
	}
	now := l.o.clock()
	var used [maxChecks]int64
	allowed := true
	for i := 0; i < p.n; i++ {
		c := &p.checks[i]
		s := st[c.scope]
		if c.kind == kindConc {
			used[i] = s.conc
		} else {
			used[i] = max(s.tat[c.kind], now) - now
		}
		allowed = allowed && c.admits(used[i])
	}
	if allowed {
		for i := 0; i < p.n; i++ {
			c := &p.checks[i]
			s := st[c.scope]
			if c.kind == kindConc {
				s.conc++
			} else {
				s.tat[c.kind] = now + used[i] + int64(c.incr)
			}
		}
	}
	unlock(&st, &sh, now)
	var rem [maxChecks]int64
	d := p.decide(&r, &used, allowed, &rem)
	l.o.metrics.decision(&p, &d, &rem)
	if !allowed {
		return nil, d, nil
	}
	return &localReservation{l: l, tenant: r.Tenant, model: r.Model, p: p}, d, nil
}

// Close implements Limiter.
func (l *Local) Close() error { return nil }

type localReservation struct {
	l             *Local
	tenant, model string
	p             plan
	settled       atomic.Bool
}

// Settle implements Reservation.
func (r *localReservation) Settle(_ context.Context, actual int64) {
	if !r.settled.CompareAndSwap(false, true) {
		return
	}
	actual = max(actual, 0)
	// The state is looked up again: an idle state may have been swept since.
	var st [2]*state
	var sh [2]*shard
	st[scopeTenant], sh[scopeTenant] = r.l.lock(stateKey{tenant: r.tenant, scope: scopeTenant})
	if r.p.hasModel {
		st[scopeModel], sh[scopeModel] = r.l.lock(stateKey{tenant: r.tenant, model: r.model, scope: scopeModel})
	}
	now := r.l.o.clock()
	for i := 0; i < r.p.n; i++ {
		c := &r.p.checks[i]
		s := st[c.scope]
		switch c.kind {
		case kindConc:
			s.conc = max(s.conc-1, 0)
		case kindTPM, kindTPD:
			s.tat[c.kind] = settleTAT(s.tat[c.kind], now, c.settleIncr(actual), c.period())
		}
	}
	unlock(&st, &sh, now)
}
