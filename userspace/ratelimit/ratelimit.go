// Package ratelimit enforces a tenant's L7 limits: requests per minute,
// tokens per minute, tokens per day and concurrent requests, per tenant and
// optionally per tenant × model.
//
// # Algorithm
//
// Every rate limit is a GCRA (generic cell rate algorithm), i.e. a token bucket
// with continuous refill expressed as one timestamp per limit, the theoretical
// arrival time (TAT). A limit of L units per period P refills at L/P per unit
// of time and holds at most L units (the whole period's budget may be spent in
// one burst after an idle period). A cost c is admitted when
//
//	max(TAT, now) + c·P/L − now ≤ P
//
// and then TAT becomes max(TAT, now) + c·P/L. There are no window boundaries,
// so there is no double burst at a boundary: over any interval of length d at
// most L + d·L/P units are admitted (the bound the concurrency tests check).
// A full bucket is the same state as an absent key, so idle state can be
// dropped without changing any decision.
//
// # Budget semantics
//
// Reserve charges 1 request and the token estimate up front, all limits of a
// request atomically (either every limit is charged or none). Settle charges
// (or refunds) the difference between the estimate and the real usage. A
// token estimate larger than a limit's capacity is charged as the capacity (the
// request needs a full bucket) instead of being refused forever; its real
// usage is charged at settlement. A settlement can push a bucket into debt by
// at most one more period, so one request never locks a tenant out for longer
// than two periods.
//
// Concurrency limits count reservations that were not settled yet. In Redis
// each is a lease that expires after RedisOptions.LeaseTTL, so a crashed
// process does not hold slots forever.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Limit names, used in Decision.Limit, in messages and as the "limit" metric label.
const (
	RequestsPerMinute  = "requests_per_minute"
	TokensPerMinute    = "tokens_per_minute"
	TokensPerDay       = "tokens_per_day"
	ConcurrentRequests = "concurrent_requests"
	// BackendUnavailable is the Limit of a request denied because the shared
	// store could not be reached and on_redis_error is deny.
	BackendUnavailable = "backend_unavailable"
)

// Scopes of a limit: the tenant's own limits or its per-model limits.
const (
	ScopeTenant = "tenant"
	ScopeModel  = "model"
)

// Limits are one level of L7 limits; zero means unlimited. Its fields match
// config.Limits, so ratelimit.Limits(cfg) converts.
type Limits struct {
	RequestsPerMinute  int64
	TokensPerMinute    int64
	TokensPerDay       int64
	ConcurrentRequests int64
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// Request is what one client request asks of the limiter.
type Request struct {
	// Tenant names the budget owner; it may be empty only when no limit
	// applies (the anonymous tenant of unauthenticated mode).
	Tenant string
	// Model is the key the model-level budget is counted under: the
	// model_limits pattern that matched (auth.Tenant.RateRequest fills it), so
	// every model matching one pattern shares its budget. Ignored when
	// ModelLimits is nil.
	Model string
	// Limits are the tenant's own limits.
	Limits Limits
	// ModelLimits, when not nil, are additional limits for Tenant × Model.
	ModelLimits *Limits
	// Tokens is the estimate to reserve against token limits (prompt plus
	// maximum output).
	Tokens int64
}

func (r *Request) validate() error {
	if r.Tokens < 0 {
		return fmt.Errorf("ratelimit: negative token estimate %d", r.Tokens)
	}
	check := func(l Limits) error {
		if l.RequestsPerMinute < 0 || l.TokensPerMinute < 0 || l.TokensPerDay < 0 || l.ConcurrentRequests < 0 {
			return fmt.Errorf("ratelimit: negative limit for tenant %q", r.Tenant)
		}
		return nil
	}
	if err := check(r.Limits); err != nil {
		return err
	}
	if r.ModelLimits != nil {
		return check(*r.ModelLimits)
	}
	return nil
}

// prepare validates a request and plans its checks.
func prepare(r *Request) (plan, error) {
	if err := r.validate(); err != nil {
		return plan{}, err
	}
	p := newPlan(r)
	if p.n > 0 && r.Tenant == "" {
		return plan{}, errors.New("ratelimit: limited request without tenant")
	}
	return p, nil
}

// Limiter admits requests against their limits.
type Limiter interface {
	// Reserve decides a request and, when it is allowed, holds its
	// reservation: 1 request, Tokens tokens and a concurrency slot. When
	// Decision.Allowed is false nothing is held and the Reservation is nil.
	// The error is non-nil only for an invalid request or a closed limiter;
	// an unreachable backend is reported by Decision.Degraded and decided by
	// the on_redis_error policy.
	Reserve(ctx context.Context, r Request) (Reservation, Decision, error)
	// Close releases the limiter's resources (it flushes pending settlements).
	Close() error
}

// Reservation is an admitted request's hold on its budget.
type Reservation interface {
	// Settle charges (or refunds) actualTokens minus the estimate and
	// releases the concurrency slot. Call it exactly once, also for failed
	// and cut requests, with the tokens that were used (0 if unknown);
	// further calls do nothing. It never blocks on a remote store.
	Settle(ctx context.Context, actualTokens int64)
}

// Quota is the state of one limit, reported in x-ratelimit-* headers.
type Quota struct {
	// Limit is the limit's size; 0 means no such limit applies (no headers).
	Limit int64
	// Remaining is what is left after this request (before it, when denied).
	Remaining int64
	// Reset is the time until the limit is whole again.
	Reset time.Duration
}

// Decision is the outcome of Reserve.
type Decision struct {
	Allowed bool
	// Limit names the limit that denied the request ("" when allowed).
	Limit string
	// Scope is ScopeTenant or ScopeModel for a denial.
	Scope  string
	Tenant string
	Model  string
	// RetryAfter is how long until enough budget returns (denials only).
	RetryAfter time.Duration
	// Requests is the tightest requests-per-minute limit of the request.
	Requests Quota
	// Tokens is the tightest token limit (per minute or per day).
	Tokens Quota
	// Degraded is true when the backend could not be asked and the decision
	// follows on_redis_error; Err then says why.
	Degraded bool
	Err      error
}

// Message is a client-facing explanation of a denial, e.g.
// "rate limit exceeded: tokens_per_minute for tenant team-a; retry after 3s".
func (d Decision) Message() string {
	if d.Allowed {
		return ""
	}
	if d.Limit == BackendUnavailable {
		return fmt.Sprintf("rate limit backend unavailable for tenant %s; retry after %ds", d.Tenant, retrySeconds(d.RetryAfter))
	}
	who := "tenant " + d.Tenant
	if d.Scope == ScopeModel {
		who += " model " + d.Model
	}
	return fmt.Sprintf("rate limit exceeded: %s for %s; retry after %ds", d.Limit, who, retrySeconds(d.RetryAfter))
}

// SetHeaders writes OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// headers for the limits that apply, and Retry-After (whole seconds, at least
// 1) when the request was denied.
func (d Decision) SetHeaders(h http.Header) {
	// Every request sets these, and a stream holds them to its end: the
	// values are cut from one string and share one []string backing array
	// (two allocations, not two per header). The keys are canonical
	// already and are assigned without Set's canonicalization.
	var (
		keys [7]string
		ends [7]int
		n    int
		buf  [160]byte
	)
	b := buf[:0]
	add := func(key string, nb []byte) {
		keys[n], ends[n], b = key, len(nb), nb
		n++
	}
	for _, q := range [2]struct {
		keys *[3]string
		q    Quota
	}{{&requestHeaders, d.Requests}, {&tokenHeaders, d.Tokens}} {
		if q.q.Limit <= 0 {
			continue
		}
		add(q.keys[0], strconv.AppendInt(b, q.q.Limit, 10))
		add(q.keys[1], strconv.AppendInt(b, q.q.Remaining, 10))
		add(q.keys[2], appendReset(b, q.q.Reset))
	}
	if !d.Allowed {
		add("Retry-After", strconv.AppendInt(b, retrySeconds(d.RetryAfter), 10))
	}
	if n == 0 {
		return
	}
	all := string(b)
	vals := make([]string, n)
	start := 0
	for i := range n {
		vals[i] = all[start:ends[i]]
		start = ends[i]
		// Capacity 1: appending to one header copies instead of
		// overwriting the next one's value.
		h[keys[i]] = vals[i : i+1 : i+1]
	}
}

// The x-ratelimit-* headers OpenAI sends, in canonical form.
var (
	requestHeaders = [3]string{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"}
	tokenHeaders   = [3]string{"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"}
)

// FormatReset renders a reset duration the way OpenAI does: milliseconds
// below one second ("250ms"), whole seconds above ("1s", "6m0s"), rounded up.
func FormatReset(d time.Duration) string {
	var buf [32]byte
	return string(appendReset(buf[:0], d))
}

// appendReset appends FormatReset(d) to b: what time.Duration.String
// prints for the rounded duration, without its allocation.
func appendReset(b []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(b, "0s"...)
	}
	unit := time.Second
	if d < time.Second {
		unit = time.Millisecond
	}
	c := ceilDur(d, unit)
	switch {
	case c <= 0: // rounding up overflowed
		return append(b, c.String()...)
	case c < time.Second:
		return append(strconv.AppendInt(b, int64(c/time.Millisecond), 10), "ms"...)
	}
	s := int64(c / time.Second)
	if s >= 3600 {
		b = append(strconv.AppendInt(b, s/3600, 10), 'h')
		b = append(strconv.AppendInt(b, s/60%60, 10), 'm')
	} else if s >= 60 {
		b = append(strconv.AppendInt(b, s/60, 10), 'm')
	}
	return append(strconv.AppendInt(b, s%60, 10), 's')
}

func ceilDur(d, unit time.Duration) time.Duration {
	if r := d % unit; r != 0 {
		d += unit - r
	}
	return d
}

func retrySeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// OnError is the on_redis_error policy.
type OnError string

// The on_redis_error policies.
const (
	OnErrorAllow OnError = "allow"
	OnErrorDeny  OnError = "deny"
)

// ErrClosed is returned by Reserve after Close.
var ErrClosed = errors.New("ratelimit: limiter closed")

// nopReservation is the reservation of a request with nothing to hold.
type nopReservation struct{}

func (nopReservation) Settle(context.Context, int64) {}

// Nop is a Limiter that admits everything (no tenants, unauthenticated mode).
type Nop struct{}

// Reserve implements Limiter.
func (Nop) Reserve(_ context.Context, r Request) (Reservation, Decision, error) {
	return nopReservation{}, Decision{Allowed: true, Tenant: r.Tenant, Model: r.Model}, nil
}

// Close implements Limiter.
func (Nop) Close() error { return nil }

var _ Limiter = Nop{}
