package ratelimit

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIncr(t *testing.T) {
	tests := []struct {
		name         string
		cost, limit  int64
		period, want time.Duration
	}{
		{"one of 60 per minute", 1, 60, time.Minute, time.Second},
		{"full bucket is exactly the period", 7, 7, time.Minute, time.Minute},
		{"charge rounds up", 1, 7, time.Minute, 8571428572},
		{"refund rounds down", -1, 7, time.Minute, -8571428571},
		{"zero cost", 0, 10, time.Minute, 0},
		{"huge limit exact", 1_000_000_000, 1_000_000_000, 24 * time.Hour, 24 * time.Hour},
		{"saturates", math.MaxInt64, 1, 24 * time.Hour, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := incr(tt.cost, tt.limit, tt.period); got != tt.want {
				t.Fatalf("incr(%d, %d, %v) = %d, want %d", tt.cost, tt.limit, tt.period, got, tt.want)
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want map[string]string // "" means absent
	}{
		{
			name: "allowed with both quotas",
			d: Decision{Allowed: true,
				Requests: Quota{Limit: 60, Remaining: 59, Reset: time.Second},
				Tokens:   Quota{Limit: 1000, Remaining: 400, Reset: 36 * time.Second}},
			want: map[string]string{
				"X-Ratelimit-Limit-Requests": "60", "X-Ratelimit-Remaining-Requests": "59", "X-Ratelimit-Reset-Requests": "1s",
				"X-Ratelimit-Limit-Tokens": "1000", "X-Ratelimit-Remaining-Tokens": "400", "X-Ratelimit-Reset-Tokens": "36s",
				"Retry-After": "",
			},
		},
		{
			name: "no limits, no headers",
			d:    Decision{Allowed: true},
			want: map[string]string{"X-Ratelimit-Limit-Requests": "", "X-Ratelimit-Limit-Tokens": "", "Retry-After": ""},
		},
		{
			name: "denied rounds retry up",
			d: Decision{Limit: TokensPerMinute, RetryAfter: 2100 * time.Millisecond,
				Tokens: Quota{Limit: 1000, Remaining: 3, Reset: 6 * time.Minute}},
			want: map[string]string{"Retry-After": "3", "X-Ratelimit-Reset-Tokens": "6m0s", "X-Ratelimit-Limit-Requests": ""},
		},
		{
			name: "denied retry at least one second",
			d:    Decision{Limit: ConcurrentRequests, RetryAfter: time.Millisecond},
			want: map[string]string{"Retry-After": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.d.SetHeaders(h)
			for k, v := range tt.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestSetHeadersValuesApart: the values share one backing array, yet
// adding to one header leaves the others as they were.
func TestSetHeadersValuesApart(t *testing.T) {
	d := Decision{Limit: RequestsPerMinute, RetryAfter: 1500 * time.Millisecond,
		Requests: Quota{Limit: 60, Remaining: 0, Reset: 1500 * time.Millisecond},
		Tokens:   Quota{Limit: 1 << 40, Remaining: 1<<40 - 1, Reset: 25 * time.Hour}}
	h := http.Header{}
	d.SetHeaders(h)
	want := http.Header{
		"X-Ratelimit-Limit-Requests": {"60"}, "X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"2s"},
		"X-Ratelimit-Limit-Tokens": {"1099511627776"}, "X-Ratelimit-Remaining-Tokens": {"1099511627775"}, "X-Ratelimit-Reset-Tokens": {"25h0m0s"},
		"Retry-After": {"2"},
	}
	for k := range want {
		h.Add(k, "added")
		want[k] = append(want[k], "added")
		for k2, v := range want {
			if got := h[k2]; !slices.Equal(got, v) {
				t.Fatalf("after adding to %s: %s = %q, want %q", k, k2, got, v)
			}
		}
	}
}

// TestFormatResetMatchesDurationString: FormatReset prints what
// time.Duration.String prints for the duration rounded up to whole
// milliseconds (below a second) or seconds.
func TestFormatResetMatchesDurationString(t *testing.T) {
	ds := []time.Duration{1, 999 * time.Microsecond, time.Millisecond, 999*time.Millisecond + 1, time.Second,
		59 * time.Second, time.Minute, time.Hour - 1, time.Hour, 100*time.Hour + 1, math.MaxInt64 / 2}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ds = append(ds, time.Duration(rng.Int64N(int64(48*time.Hour))), time.Duration(rng.Int64N(int64(2*time.Second))))
	}
	for _, d := range ds {
		unit := time.Second
		if d < time.Second {
			unit = time.Millisecond
		}
		if got, want := FormatReset(d), ceilDur(d, unit).String(); got != want {
			t.Fatalf("FormatReset(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func TestFormatReset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{1, "1ms"},
		{20 * time.Millisecond, "20ms"},
		{1500 * time.Millisecond, "2s"},
		{6 * time.Minute, "6m0s"},
		{24*time.Hour - time.Millisecond, "24h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatReset(tt.d); got != tt.want {
				t.Fatalf("FormatReset(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{Allowed: true}, ""},
		{Decision{Limit: TokensPerMinute, Scope: ScopeTenant, Tenant: "team-a", RetryAfter: 2500 * time.Millisecond},
			"rate limit exceeded: tokens_per_minute for tenant team-a; retry after 3s"},
		{Decision{Limit: RequestsPerMinute, Scope: ScopeModel, Tenant: "team-a", Model: "gpt-4*", RetryAfter: time.Second},
			"rate limit exceeded: requests_per_minute for tenant team-a model gpt-4*; retry after 1s"},
		{Decision{Limit: BackendUnavailable, Scope: ScopeTenant, Tenant: "team-a", RetryAfter: time.Second, Degraded: true},
			"rate limit backend unavailable for tenant team-a; retry after 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.d.Message(); got != tt.want {
				t.Fatalf("Message() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"limited without tenant", Request{Limits: Limits{RequestsPerMinute: 1}}, "without tenant"},
		{"negative tokens", Request{Tenant: "a", Tokens: -1}, "negative token"},
		{"negative limit", Request{Tenant: "a", Limits: Limits{TokensPerDay: -1}}, "negative limit"},
		{"negative model limit", Request{Tenant: "a", ModelLimits: &Limits{ConcurrentRequests: -2}}, "negative limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := prepare(&tt.r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("prepare() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestAnonymousUnlimitedRequestIsAllowed(t *testing.T) {
	res, d := mustReserve(t, NewLocal(), Request{Tokens: 100})
	if !d.Allowed {
		t.Fatalf("%+v", d)
	}
	res.Settle(context.Background(), 1)
}
