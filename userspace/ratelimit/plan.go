package ratelimit

import (
	"math"
	"math/bits"
	"time"
)

// kind is one of the four limits.
type kind uint8

const (
	kindRPM kind = iota
	kindTPM
	kindTPD
	kindConc
	numKinds
)

var kindNames = [numKinds]string{RequestsPerMinute, TokensPerMinute, TokensPerDay, ConcurrentRequests}

// kindPeriod is the GCRA period of each rate kind (0 for concurrency).
var kindPeriod = [numKinds]time.Duration{time.Minute, time.Minute, 24 * time.Hour, 0}

const (
	scopeTenant uint8 = iota
	scopeModel
)

var scopeNames = [2]string{ScopeTenant, ScopeModel}

// concRetryAfter is the Retry-After of a concurrency denial: nobody knows
// when a running request ends, so the client is told to come back soon.
const concRetryAfter = time.Second

// check is one limit a request is measured against.
type check struct {
	kind  kind
	scope uint8
	limit int64
	// cost is what Reserve charges: 1 request, or the token estimate capped
	// at the limit (a request needs at most a full bucket).
	cost int64
	// incr is cost·P/L rounded up: how far the TAT moves.
	incr time.Duration
}

func (c *check) period() time.Duration { return kindPeriod[c.kind] }

// maxChecks is 4 kinds × 2 scopes.
const maxChecks = 8

// plan is the set of limits of one request, in a fixed array so that
// planning does not allocate.
type plan struct {
	checks [maxChecks]check
	n      int
	// hasModel is true when some check has scopeModel.
	hasModel bool
}

func newPlan(r *Request) plan {
	var p plan
	p.add(scopeTenant, r.Limits, r.Tokens)
	if r.ModelLimits != nil {
		p.add(scopeModel, *r.ModelLimits, r.Tokens)
	}
	return p
}

func (p *plan) add(scope uint8, l Limits, tokens int64) {
	vals := [numKinds]int64{l.RequestsPerMinute, l.TokensPerMinute, l.TokensPerDay, l.ConcurrentRequests}
	for k := kind(0); k < numKinds; k++ {
		limit := vals[k]
		if limit <= 0 {
			continue
		}
		c := check{kind: k, scope: scope, limit: limit}
		switch k {
		case kindRPM, kindConc:
			c.cost = 1
		default:
			c.cost = min(tokens, limit)
		}
		if k != kindConc {
			c.incr = incr(c.cost, limit, kindPeriod[k])
		}
		p.checks[p.n] = c
		p.n++
		if scope == scopeModel {
			p.hasModel = true
		}
	}
}

// incr converts a cost into GCRA time, cost·period/limit, exactly (128-bit
// intermediate). Charges round up and refunds round down, so rounding never
// admits more than the limit. The result saturates instead of overflowing.
func incr(cost, limit int64, period time.Duration) time.Duration {
	if cost == 0 || limit <= 0 {
		return 0
	}
	neg := cost < 0
	if neg {
		cost = -cost
	}
	hi, lo := bits.Mul64(uint64(cost), uint64(period))
	if hi >= uint64(limit) {
		if neg {
			return math.MinInt64 + 1
		}
		return math.MaxInt64
	}
	q, rem := bits.Div64(hi, lo, uint64(limit))
	if !neg && rem != 0 {
		q++
	}
	if q > math.MaxInt64 {
		q = math.MaxInt64
	}
	if neg {
		return -time.Duration(q)
	}
	return time.Duration(q)
}

// settleIncr is the TAT change of settling actual tokens against a check
// that charged c.cost. The difference is capped at two capacities: more
// cannot matter because a settled TAT is capped at now + 2·period.
func (c *check) settleIncr(actual int64) time.Duration {
	if c.kind != kindTPM && c.kind != kindTPD {
		return 0
	}
	delta := actual - c.cost
	delta = max(min(delta, 2*c.limit), -2*c.limit)
	return incr(delta, c.limit, c.period())
}

// settleTAT applies a settlement to a TAT: refunds never make the bucket
// fuller than full, charges never create more than one period of debt.
func settleTAT(tat, now int64, d time.Duration, period time.Duration) int64 {
	tat = max(tat, now)
	tat += int64(d)
	tat = min(tat, now+2*int64(period))
	return max(tat, now)
}

// admits reports whether check c admits the request given its state: for a
// rate kind, used is max(TAT, now) − now; for concurrency, the slots held.
func (c *check) admits(used int64) bool {
	if c.kind == kindConc {
		return used+1 <= c.limit
	}
	return used+int64(c.incr) <= int64(c.period())
}

// after is the state after charging the request.
func (c *check) after(used int64) int64 {
	if c.kind == kindConc {
		return used + 1
	}
	return used + int64(c.incr)
}

// remaining is how much of the limit is left in a state.
func (c *check) remaining(used int64) int64 {
	if c.kind == kindConc {
		return max(c.limit-used, 0)
	}
	free := int64(c.period()) - used
	if free <= 0 {
		return 0
	}
	// floor(free·L/P) exactly; free ≤ P, so the quotient is at most L.
	hi, lo := bits.Mul64(uint64(free), uint64(c.limit))
	q, _ := bits.Div64(hi, lo, uint64(c.period()))
	return min(int64(q), c.limit)
}

// decide builds the Decision from the state of every check (used[i], as for
// admits) before the request. allowed says whether the request was charged.
// rem receives every check's remaining budget, for the gauges.
func (p *plan) decide(r *Request, used *[maxChecks]int64, allowed bool, rem *[maxChecks]int64) Decision {
	d := Decision{Allowed: allowed, Tenant: r.Tenant, Model: r.Model}
	for i := 0; i < p.n; i++ {
		c := &p.checks[i]
		u := used[i]
		if allowed {
			u = c.after(u)
		} else if !c.admits(u) {
			retry := concRetryAfter
			if c.kind != kindConc {
				retry = time.Duration(u + int64(c.incr) - int64(c.period()))
			}
			if d.Limit == "" || retry > d.RetryAfter {
				d.Limit, d.Scope, d.RetryAfter = kindNames[c.kind], scopeNames[c.scope], retry
			}
		}
		rem[i] = c.remaining(u)
		q := Quota{Limit: c.limit, Remaining: rem[i], Reset: time.Duration(max(u, 0))}
		switch c.kind {
		case kindRPM:
			d.Requests = tighter(d.Requests, q)
		case kindTPM, kindTPD:
			d.Tokens = tighter(d.Tokens, q)
		}
	}
	return d
}

// tighter picks the quota with less remaining (the one a client hits first).
func tighter(a, b Quota) Quota {
	if a.Limit == 0 || b.Remaining < a.Remaining || (b.Remaining == a.Remaining && b.Reset > a.Reset) {
		return b
	}
	return a
}
