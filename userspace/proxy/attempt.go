package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/route"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/snapshot"
	"github.com/weir-gateway/weir/userspace/sse"
)

var (
	errFirstByteTimeout = errors.New("no first byte from upstream within the first-byte timeout")
	errIdleTimeout      = errors.New("upstream stream idle longer than the idle timeout")
)

// maxErrorBody bounds how much of an upstream error body weir reads.
const maxErrorBody = 64 << 10

// outcome is how one attempt ended.
type outcome struct {
	// done: the client has its answer (success, a non-retryable upstream
	// error, or a stream that ended after content started).
	done    bool
	status  int // upstream HTTP status, 0 for network errors and timeouts
	action  action
	timeout bool
	// wait is how long a 429 asked to wait before this target is used again.
	wait time.Duration
	// message is for the access log; client is what the client may see.
	message string
	client  string
	// unsupported is set when the target cannot express the request.
	unsupported error
}

// attempts runs the attempt loop of DESIGN.md over targets in order.
func (h *Handler) attempts(ctx context.Context, snap *snapshot.Snapshot, req *provider.Request, targets []route.Target, x *exchange, out *sink) {
	rc := snap.Config.Retry
	if req.Stream {
		if iv := snap.Config.Server.KeepAliveInterval.D(); iv > 0 {
			out.keepAlives(iv, func() bool { return x.stopped(ctx) == nil })
		}
		defer out.close()
	}

	var (
		last        outcome
		lastTr      provider.Translator
		notBefore   map[string]time.Time // per target key, after a 429 (made on first use: a map literal would sit in the frame of every stream)
		unsupported error
		backoffs    int
		n           = len(targets)
		panicMode   bool
	)
	for idx := 0; x.attempts < rc.MaxAttempts && idx < n*(rc.MaxAttempts+1); idx++ {
		if idx == n && x.attempts == 0 && unsupported == nil {
			// Every circuit is open: try anyway rather than fail fast.
			panicMode = true
		}
		t := targets[idx%n]
		up := snap.Upstreams[t.Provider]
		key := t.Provider + "/" + t.Model
		if up == nil {
			continue
		}
		if !panicMode && (!h.Health.CredentialOK(t.Provider) || !h.Health.Allow(key)) {
			continue
		}
		if nb, ok := notBefore[key]; ok {
			d := time.Until(nb)
			if d > rc.MaxBackoff.D() {
				h.Health.Release(key)
				continue
			}
			if d > 0 && !h.sleep(ctx, d, x) {
				h.Health.Release(key)
				break
			}
		}
		tr, err := up.NewTranslator(req.API)
		if err != nil {
			h.Health.Release(key)
			unsupported = err
			continue
		}
		lastTr = tr
		x.attempts++
		x.provider, x.upModel = t.Provider, t.Model
		o := h.attempt(ctx, up, tr, t, req, x, out)
		last = o
		if o.unsupported != nil {
			h.Health.Release(key)
			x.attempts--
			var bad *provider.BadRequestError
			if errors.As(o.unsupported, &bad) {
				h.clientError(x, out, req, &APIError{Status: http.StatusBadRequest, Message: bad.Message}, lastTr)
				return
			}
			unsupported = o.unsupported
			continue
		}
		switch {
		case o.done:
			if o.status >= 200 && o.status < 300 {
				h.Health.Success(key)
			} else {
				h.Health.Release(key)
			}
			return
		case x.stopped(ctx) != nil:
			h.Health.Release(key)
			h.giveUp(ctx, x, out, req, last, lastTr)
			return
		}
		h.Metrics.Retries.WithLabelValues(t.Provider, retryReason(o)).Inc()
		switch o.action {
		case retryNextCredential:
			h.Health.Release(key)
			h.Health.CredentialFailed(t.Provider, rc.OpenFor.D())
		case retryNext:
			h.Health.Release(key)
			w := o.wait
			if w <= 0 {
				w = rc.Backoff.D()
			}
			if notBefore == nil {
				notBefore = map[string]time.Time{}
			}
			notBefore[key] = time.Now().Add(w)
		default:
			h.Health.Failure(key, rc.FailureThreshold, rc.OpenFor.D())
			if x.attempts < rc.MaxAttempts && !h.sleep(ctx, backoff(backoffs, rc.Backoff.D(), rc.MaxBackoff.D()), x) {
				h.giveUp(ctx, x, out, req, last, lastTr)
				return
			}
			backoffs++
		}
	}
	if x.attempts == 0 && unsupported != nil {
		h.clientError(x, out, req, &APIError{Status: http.StatusBadRequest, Message: unsupported.Error()}, lastTr)
		return
	}
	h.giveUp(ctx, x, out, req, last, lastTr)
}

func retryReason(o outcome) string {
	switch {
	case o.timeout:
		return "timeout"
	case o.status == 0:
		return "network"
	case o.status == http.StatusTooManyRequests:
		return "rate_limited"
	case o.status == http.StatusUnauthorized || o.status == http.StatusForbidden:
		return "credential"
	case o.status >= 500:
		return "server_error"
	default:
		return "other"
	}
}

// sleep waits d unless the client goes or the deadline passes first; the
// time counts as upstream wait.
func (h *Handler) sleep(ctx context.Context, d time.Duration, x *exchange) bool {
	if d <= 0 {
		return true
	}
	left := time.Until(x.deadline)
	if left <= 0 {
		return false
	}
	t0 := time.Now()
	defer func() { x.wait += time.Since(t0) }()
	t := time.NewTimer(min(d, left))
	defer t.Stop()
	select {
	case <-t.C:
		return d < left
	case <-ctx.Done():
		return false
	}
}

// giveUp answers the client after every attempt failed.
func (h *Handler) giveUp(ctx context.Context, x *exchange, out *sink, req *provider.Request, last outcome, tr provider.Translator) {
	stopped := x.stopped(ctx)
	if errors.Is(stopped, context.Canceled) {
		// The client went away; nobody to answer.
		x.status = 499
		x.errMsg = "client closed the request"
		return
	}
	e := &APIError{Status: http.StatusBadGateway}
	prov := x.provider
	switch {
	case errors.Is(stopped, context.DeadlineExceeded):
		e.Status = http.StatusGatewayTimeout
		e.Message = "request deadline exceeded before an upstream answered"
	case x.attempts == 0:
		e.Status = http.StatusServiceUnavailable
		e.Message = "no upstream available for this model"
	case last.timeout:
		e.Status = http.StatusGatewayTimeout
		e.Message = fmt.Sprintf("upstream %s timed out (%d attempts)", prov, x.attempts)
	case last.status == http.StatusTooManyRequests:
		e.Status = http.StatusTooManyRequests
		e.Message = fmt.Sprintf("upstream %s is rate limiting (%d attempts)", prov, x.attempts)
		if last.wait > 0 {
			e.RetryAfterSeconds = int((last.wait + time.Second - 1) / time.Second)
		}
	case last.status == http.StatusUnauthorized || last.status == http.StatusForbidden:
		e.Message = fmt.Sprintf("upstream %s rejected the gateway's credential", prov)
	case last.status == http.StatusServiceUnavailable || last.status == 529:
		e.Status = http.StatusServiceUnavailable
		e.Message = fmt.Sprintf("upstream %s is unavailable (%d attempts)", prov, x.attempts)
	case last.status == 0:
		e.Message = fmt.Sprintf("upstream %s could not be reached (%d attempts)", prov, x.attempts)
	default:
		e.Message = fmt.Sprintf("upstream %s failed with status %d (%d attempts)", prov, last.status, x.attempts)
	}
	if last.client != "" {
		e.Message += ": " + last.client
	}
	x.errMsg = last.message
	h.clientError(x, out, req, e, tr)
}

// clientError answers e: as a JSON error when nothing was sent yet, or as the
// dialect's error event when keep-alive comments already committed a stream.
func (h *Handler) clientError(x *exchange, out *sink, req *provider.Request, e *APIError, tr provider.Translator) {
	x.status = e.Status
	x.errType = openai.ErrorType(e.Status)
	if x.errMsg == "" {
		x.errMsg = e.Message
	}
	if out.isCommitted() {
		var ev []byte
		if tr != nil {
			ev = tr.StreamError(e.Status, e.Message)
		} else {
			ev = errorEvent(req.API.Dialect(), e)
		}
		_ = out.writeStream(ev, false)
		return
	}
	writeError(out.w, req.API, e)
}

// attempt sends one upstream request and relays its answer. ctx is the
// client's: the attempt's own context is its only child, cancelled by the
// attempt's watchdog.
func (h *Handler) attempt(ctx context.Context, up *snapshot.Upstream, tr provider.Translator, t route.Target, req *provider.Request, x *exchange, out *sink) outcome {
	ureq, err := tr.Request(req, t.Model)
	if err != nil {
		var bad *provider.BadRequestError
		if errors.As(err, &bad) || errors.Is(err, provider.ErrUnsupported) {
			return outcome{unsupported: err}
		}
		return outcome{unsupported: &provider.BadRequestError{Message: err.Error()}}
	}
	c := newCall(ctx, x.deadline, up.Timeouts)
	defer c.end()

	hreq, err := up.NewRequest(c.ctx, ureq)
	if err != nil {
		return outcome{action: fail, message: err.Error(), client: "invalid upstream request"}
	}
	hreq.Header["X-Request-Id"] = []string{x.reqID}
	t0 := time.Now()
	resp, err := up.Do(hreq)
	x.wait += time.Since(t0)
	if err != nil {
		return c.networkOutcome(err, "request")
	}
	// The request (and through it the upstream body) is not needed any
	// more; the response, which a stream holds to its end, must not keep it.
	resp.Request = nil
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.deadlineOnly()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		o := outcome{status: resp.StatusCode, action: classify(resp.StatusCode), wait: retryAfter(resp.Header, time.Now()),
			message: fmt.Sprintf("upstream %s returned %d: %s", t.Provider, resp.StatusCode, truncate(b, 256))}
		if o.action == fail {
			// Not retryable: the client gets the provider's answer in its own dialect.
			x.status = resp.StatusCode
			x.errType = openai.ErrorType(resp.StatusCode)
			x.errMsg = o.message
			if out.isCommitted() {
				_ = out.writeStream(tr.StreamError(resp.StatusCode, string(truncate(b, 1024))), false)
			} else {
				out.w.Header().Set("Content-Type", "application/json")
				out.w.WriteHeader(resp.StatusCode)
				_, _ = out.w.Write(tr.Error(resp.StatusCode, b))
			}
			o.done = true
		}
		return o
	}
	if !req.Stream {
		return h.relayBody(c, tr, t, resp, x, out)
	}
	return h.relayStream(c, tr, t, req, resp, x, out)
}

// call is one attempt's context and its watchdog: a single timer that
// cancels the context, with the reason as its cause, at the request
// deadline or when the upstream stays silent longer than the current
// phase allows (the first byte, then the gap between reads). One context
// and one timer per attempt, where a context per bound would each add a
// child to the chain, a timer and a cancel hook.
type call struct {
	client   context.Context
	ctx      context.Context
	cancel   context.CancelCauseFunc
	deadline time.Time
	idleFor  time.Duration // the longest silence between reads
	timer    *time.Timer
	// why is the cause the timer cancels with, set with the timer.
	why atomic.Pointer[error]
}

var (
	causeFirstByte = &errFirstByteTimeout
	causeIdle      = &errIdleTimeout
	causeDeadline  = &context.DeadlineExceeded
)

// newCall starts an attempt's context under ctx (the client's), watched
// for the first byte.
func newCall(ctx context.Context, deadline time.Time, timeouts config.Timeouts) *call {
	c := &call{client: ctx, deadline: deadline, idleFor: timeouts.Idle.D()}
	c.ctx, c.cancel = context.WithCancelCause(ctx)
	d, why := c.bound(time.Now(), timeouts.FirstByte.D(), causeFirstByte)
	c.why.Store(why)
	c.timer = time.AfterFunc(d, c.fire)
	return c
}

func (c *call) fire() { c.cancel(*c.why.Load()) }

// bound is the watch for d from now, or up to the deadline when that
// comes first.
func (c *call) bound(now time.Time, d time.Duration, why *error) (time.Duration, *error) {
	if left := c.deadline.Sub(now); left <= d {
		return left, causeDeadline
	}
	return d, why
}

func (c *call) arm(now time.Time, d time.Duration, why *error) {
	d, why = c.bound(now, d, why)
	c.why.Store(why)
	c.timer.Reset(d)
}

// idle restarts the watch for the next read from the upstream.
func (c *call) idle() { c.idleFrom(time.Now()) }

// idleFrom is idle for a caller that has read the clock.
func (c *call) idleFrom(now time.Time) { c.arm(now, c.idleFor, causeIdle) }

// deadlineOnly watches nothing but the request deadline.
func (c *call) deadlineOnly() { c.arm(time.Now(), math.MaxInt64, causeDeadline) }

// clientGone reports whether the client's context ended the attempt.
func (c *call) clientGone() bool { return c.client.Err() != nil }

// end stops the watchdog and cancels the attempt's context.
func (c *call) end() {
	c.timer.Stop()
	c.cancel(nil)
}

// networkOutcome is the outcome of a failed upstream read or write in phase.
func (c *call) networkOutcome(err error, phase string) outcome {
	cause := context.Cause(c.ctx)
	switch {
	case errors.Is(cause, errFirstByteTimeout), errors.Is(cause, errIdleTimeout):
		return outcome{action: retryBackoff, timeout: true, message: cause.Error(), client: "timeout"}
	case errors.Is(cause, context.DeadlineExceeded):
		return outcome{action: retryBackoff, timeout: true, message: "deadline exceeded during upstream " + phase}
	}
	return outcome{action: retryBackoff, message: "upstream " + phase + ": " + err.Error(), client: "connection failed"}
}

func (h *Handler) relayBody(c *call, tr provider.Translator, t route.Target, resp *http.Response, x *exchange, out *sink) outcome {
	c.idle()
	t0 := time.Now()
	body, err := readAll(resp.Body, initialSize(resp.ContentLength, 4096), c.idle)
	x.wait += time.Since(t0)
	if err != nil {
		return c.networkOutcome(err, "body")
	}
	clientBody, usage, err := tr.Response(body)
	if err != nil {
		return upstreamErrOutcome(err, t.Provider)
	}
	x.usage = usage
	x.status = http.StatusOK
	x.ttfb = time.Since(x.start)
	// The answer is whole: over HTTP/1.1 it leaves now, with its length,
	// and the bookkeeping that follows (closing the attempt, settling the
	// limits, metrics, the access log) no longer delays it. Over HTTP/2
	// and HTTP/3 the client waits for the end of the stream, which only
	// the handler's return sends: a flush here would only split the
	// answer and its end into two frames and two writes.
	out.mu.Lock()
	if !out.committed {
		out.w.Header().Set("Content-Length", strconv.Itoa(len(clientBody)))
	}
	out.commitLocked(http.StatusOK, "application/json")
	out.contentLocked()
	if _, err := out.w.Write(clientBody); err == nil && !out.streams {
		_ = out.rc.Flush()
	}
	out.mu.Unlock()
	return outcome{done: true, status: http.StatusOK}
}

func upstreamErrOutcome(err error, prov string) outcome {
	var ue *provider.UpstreamError
	if errors.As(err, &ue) {
		st := ue.Status
		if st == 0 {
			st = http.StatusBadGateway
		}
		a := classify(st)
		if a == fail {
			a = retryBackoff
		}
		return outcome{status: st, action: a, message: fmt.Sprintf("upstream %s: %s", prov, ue.Error()), client: ue.Message}
	}
	return outcome{status: http.StatusBadGateway, action: retryBackoff, message: fmt.Sprintf("upstream %s: invalid response: %v", prov, err), client: "invalid response from upstream"}
}

// readAll reads r to the end into a buffer of capacity n at first, calling
// progress (when not nil) after every read that returned bytes.
func readAll(r io.Reader, n int, progress func()) ([]byte, error) {
	buf := make([]byte, 0, n)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 && progress != nil {
			progress()
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (h *Handler) relayStream(c *call, tr provider.Translator, t route.Target, req *provider.Request, resp *http.Response, x *exchange, out *sink) outcome {
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return outcome{status: http.StatusBadGateway, action: retryBackoff,
			message: fmt.Sprintf("upstream %s answered a stream request with %q: %s", t.Provider, ct, truncate(b, 256)), client: "upstream did not stream"}
	}
	rd := sse.NewReader(resp.Body)
	// Content goes out before weir waits on the upstream again, not per
	// event: a burst of events read at once leaves in one write.
	rd.OnWait = func() { _ = out.flush() }
	var held []byte
	// failed ends the attempt: before content it can fail over; after, the
	// client gets an error event and the stream ends, never a silent cut.
	failed := func(o outcome) outcome {
		x.usage = tr.Usage()
		if !out.content {
			return o
		}
		if c.clientGone() {
			// Not the upstream's fault: the client cancelled, and the
			// upstream read ended with it.
			x.status = 499
			x.errMsg = "client went away mid-stream"
			return outcome{done: true, status: 499}
		}
		status := o.status
		if status == 0 || status < 400 {
			status = http.StatusBadGateway
			if o.timeout {
				status = http.StatusGatewayTimeout
			}
		}
		x.status = status
		x.errType = openai.ErrorType(status)
		x.errMsg = "stream ended by upstream failure after content: " + o.message
		h.Log.Warn("stream cut by upstream failure", "request_id", x.reqID, "provider", t.Provider, "reason", o.message)
		msg := o.client
		if msg == "" {
			msg = "upstream stream failed"
		}
		_ = out.writeStream(tr.StreamError(status, "upstream "+t.Provider+" failed mid-stream: "+msg), false)
		return outcome{done: true, status: status}
	}
	for {
		t0 := time.Now()
		ev, err := rd.Next()
		now := time.Now()
		x.wait += now.Sub(t0)
		// The first event ends the first-byte watch; every event restarts
		// the idle watch.
		c.idleFrom(now)
		if err == io.EOF {
			tail, err := tr.StreamEnd()
			x.usage = tr.Usage()
			if err != nil {
				return failed(upstreamErrOutcome(err, t.Provider))
			}
			if !out.content {
				x.firstToken = time.Since(x.start)
				x.ttfb = x.firstToken
			}
			if err := out.writeStream(append(held, tail...), true); err != nil {
				x.status = 499
				x.errMsg = "client went away"
				return outcome{done: true, status: 499}
			}
			x.status = http.StatusOK
			return outcome{done: true, status: http.StatusOK}
		}
		if err != nil {
			return failed(c.networkOutcome(err, "stream"))
		}
		chunk, err := tr.StreamEvent(ev)
		if err != nil {
			return failed(upstreamErrOutcome(err, t.Provider))
		}
		if !out.content && !chunk.Content {
			held = append(held, chunk.Data...)
			continue
		}
		if !out.content {
			x.firstToken = time.Since(x.start)
			x.ttfb = x.firstToken
			// No failover from here on: the client's body, needed only
			// to translate another attempt, goes, so a stream that idles
			// for minutes does not hold it.
			req.Body = nil
			// The held events go first; unflushed, they leave with the
			// content in one write.
			if len(held) > 0 {
				err = out.writeStreamLater(held, true)
				held = nil
			}
		}
		if err == nil {
			err = out.writeStreamLater(chunk.Data, true)
		}
		if err != nil {
			x.usage = tr.Usage()
			x.status = 499
			x.errMsg = "client went away mid-stream"
			return outcome{done: true, status: 499}
		}
	}
}

// initialSize is the buffer to read a body of size bytes (-1: unknown)
// into: one byte more than announced so the read that sees EOF needs no
// growth, capped so a lying Content-Length cannot reserve much memory.
func initialSize(size int64, unknown int) int {
	const most = 1 << 20
	if size < 0 {
		return unknown
	}
	return int(min(size, most)) + 1
}

func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], "…"...)
}
