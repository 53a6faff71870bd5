package proxy

import (
	"net/http"
	"strconv"
	"time"
)

// action is what the attempt loop does after a failed attempt.
type action int

const (
	// retryBackoff waits (exponential backoff) and tries the next target in order.
	retryBackoff action = iota
	// retryNext moves to the next target at once (429 honours Retry-After).
	retryNext
	// retryNextCredential marks the provider credential unhealthy and moves on.
	retryNextCredential
	// fail returns the upstream's answer to the client: retrying cannot help.
	fail
)

func (a action) String() string {
	switch a {
	case retryBackoff:
		return "backoff"
	case retryNext:
		return "next"
	case retryNextCredential:
		return "credential"
	default:
		return "fail"
	}
}

// classify maps an upstream status (0 for a network error or timeout) to the
// retry rule of DESIGN.md: network and 5xx back off and retry; 429 goes to the
// next target; 401/403 mark the credential; 400/404/422 and other client
// errors are never retried.
func classify(status int) action {
	switch {
	case status == 0:
		return retryBackoff
	case status == http.StatusTooManyRequests:
		return retryNext
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return retryNextCredential
	case status == http.StatusRequestTimeout:
		return retryBackoff
	case status >= 500:
		return retryBackoff
	default:
		return fail
	}
}

// retryAfter reads Retry-After (seconds or HTTP date) and retry-after-ms;
// zero when absent or unparseable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff returns the delay before retry number n (0-based), doubling from
// base and capped at max.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
