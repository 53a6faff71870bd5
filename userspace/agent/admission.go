package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/auth"
	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/proxy"
	"github.com/weir-gateway/weir/userspace/ratelimit"
	"github.com/weir-gateway/weir/userspace/snapshot"
	"github.com/weir-gateway/weir/userspace/tokens"
)

// admission authenticates tenants and holds their L7 budgets. The limiter
// lives across reloads (budgets must not reset when a file changes); it is
// rebuilt only when the ratelimit section itself changes.
type admission struct {
	log      *slog.Logger
	metrics  *ratelimit.Metrics
	blocker  ratelimit.Blocker
	mu       sync.Mutex
	current  atomic.Pointer[limiterState]
	draining time.Duration
}

type limiterState struct {
	cfg     config.RateLimit
	limiter ratelimit.Limiter
}

var _ proxy.Admission = (*admission)(nil)

// configure installs a limiter for c, keeping the current one when the
// ratelimit section did not change.
func (a *admission) configure(c *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.current.Load()
	if old != nil && reflect.DeepEqual(old.cfg, c.RateLimit) {
		return nil
	}
	l, err := newLimiter(c, a.metrics, a.log)
	if err != nil {
		return err
	}
	l = ratelimit.WithKernelBlock(l, a.blocker, c.RateLimit.KernelBlockAfter, c.RateLimit.KernelBlockFor.D(), ratelimit.WithMetrics(a.metrics), ratelimit.WithLogger(a.log))
	a.current.Store(&limiterState{cfg: c.RateLimit, limiter: l})
	if old != nil {
		// Requests in flight settle on the old limiter; close it once they are done.
		go func() {
			time.Sleep(a.draining)
			_ = old.limiter.Close()
		}()
	}
	return nil
}

func newLimiter(c *config.Config, m *ratelimit.Metrics, log *slog.Logger) (ratelimit.Limiter, error) {
	opts := []ratelimit.Option{ratelimit.WithMetrics(m), ratelimit.WithLogger(log)}
	if c.RateLimit.Backend != "redis" {
		return ratelimit.NewLocal(opts...), nil
	}
	r := c.RateLimit.Redis
	l, err := ratelimit.NewRedis(ratelimit.RedisOptions{
		Address:  r.Address,
		Password: r.Password.Value(),
		DB:       r.DB,
		Timeout:  r.Timeout.D(),
		Prefix:   r.Prefix,
		OnError:  ratelimit.OnError(c.RateLimit.OnRedisError),
		// A lease outlives the longest request, so a crashed weir frees its slots.
		LeaseTTL: c.Retry.Deadline.D() + time.Minute,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("ratelimit.redis: %w", err)
	}
	return l, nil
}

func (a *admission) close() error {
	if s := a.current.Load(); s != nil {
		return s.limiter.Close()
	}
	return nil
}

// authenticate resolves the caller's tenant; nil with no error means the
// config has no tenants.
func authenticate(snap *snapshot.Snapshot, r *http.Request) (*auth.Tenant, *proxy.APIError) {
	if !snap.Auth.Enabled() {
		return nil, nil
	}
	t, err := snap.Auth.Authenticate(r.Header)
	switch {
	case errors.Is(err, auth.ErrMissingKey):
		return nil, &proxy.APIError{Status: http.StatusUnauthorized, Code: "missing_api_key",
			Message: "missing API key: send it as Authorization: Bearer, x-api-key or api-key"}
	case err != nil:
		return nil, &proxy.APIError{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: "invalid API key"}
	}
	return t, nil
}

// Admit implements proxy.Admission.
func (a *admission) Admit(ctx context.Context, snap *snapshot.Snapshot, r *http.Request, req *provider.Request) (proxy.Ticket, *proxy.APIError) {
	t, aerr := authenticate(snap, r)
	if aerr != nil || t == nil {
		return nil, aerr
	}
	if !t.Allows(req.Model) {
		return &ticket{tenant: t.Name}, &proxy.APIError{Status: http.StatusForbidden, Code: "model_not_allowed", Param: "model",
			Message: fmt.Sprintf("model %q is not allowed for tenant %s", req.Model, t.Name)}
	}
	st := a.current.Load()
	// The proxy validated the body (jsonscan.Valid) before admission.
	est, _ := tokens.EstimateValid(req.API, req.Model, req.Body)
	res, d, err := st.limiter.Reserve(ctx, t.RateRequest(req.Model, est.Total()))
	if err != nil {
		return &ticket{tenant: t.Name}, &proxy.APIError{Status: http.StatusServiceUnavailable, Message: "rate limiter unavailable: " + err.Error()}
	}
	if !d.Allowed {
		h := http.Header{}
		d.SetHeaders(h)
		status := http.StatusTooManyRequests
		if d.Limit == ratelimit.BackendUnavailable {
			status = http.StatusServiceUnavailable
		}
		return &ticket{tenant: t.Name}, &proxy.APIError{Status: status, Code: "rate_limit_exceeded", Message: d.Message(), Header: h,
			RetryAfterSeconds: int((d.RetryAfter + time.Second - 1) / time.Second)}
	}
	return &ticket{tenant: t.Name, decision: d, res: res}, nil
}

// Models implements proxy.Admission.
func (a *admission) Models(snap *snapshot.Snapshot, r *http.Request) ([]string, *proxy.APIError) {
	t, aerr := authenticate(snap, r)
	if aerr != nil {
		return nil, aerr
	}
	if t == nil {
		return snap.Routes.Names(nil), nil
	}
	return snap.Routes.Names(t.Allows), nil
}

// ticket is one admitted request's hold on its tenant's budget.
type ticket struct {
	tenant   string
	decision ratelimit.Decision
	res      ratelimit.Reservation
	settled  atomic.Bool
}

func (t *ticket) Tenant() string { return t.tenant }

func (t *ticket) Header(h http.Header) {
	if t.res != nil {
		t.decision.SetHeaders(h)
	}
}

func (t *ticket) Settle(used provider.Usage) {
	if t.res == nil || !t.settled.CompareAndSwap(false, true) {
		return
	}
	t.res.Settle(context.Background(), used.Total())
}
