// Package loadgen drives HTTP load at a server and records latency without
// coordinated omission.
//
// Closed loop (Rate 0): Concurrency workers each send a request, wait for the
// whole answer and send the next, for Duration. It measures throughput; its
// latencies hide queueing, since a slow server slows the load down.
//
// Open loop (Rate > 0): requests are scheduled at fixed intervals whatever
// the server does, and each latency is measured from the request's intended
// start, so a stall shows up in every request it delays (no coordinated
// omission). Concurrency bounds the requests in flight; a request that has to
// wait for a free slot is late, and its wait is part of its latency.
//
// Streaming answers (text/event-stream) are read event by event: the time to
// the response headers, to the first body byte and between events is
// recorded besides the total.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/bench/hdr"
)

// Request is the request every iteration sends.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Config is one load run.
type Config struct {
	Request Request
	Client  *http.Client
	// Concurrency is the number of workers (closed loop) or the bound on
	// requests in flight (open loop).
	Concurrency int
	// Rate, when above 0, is the open-loop request rate per second.
	Rate float64
	// Duration is how long requests are measured, after Warmup.
	Duration time.Duration
	// Warmup runs the same load first without recording it.
	Warmup time.Duration
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
}

// Result is what a run measured. Latencies cover the whole answer (body
// read to the end); for streams also the header time, time to first body
// byte and the gaps between events.
type Result struct {
	Mode        string        `json:"mode"` // closed|open
	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Requests    uint64        `json:"requests"`
	// OK counts 2xx answers read to their end.
	OK     uint64            `json:"ok"`
	Errors map[string]uint64 `json:"errors,omitempty"`
	// Late counts open-loop requests that waited for a free slot.
	Late uint64 `json:"late,omitempty"`
	// Bytes is the body bytes read.
	Bytes uint64 `json:"bytes"`
	// Events counts SSE events in streamed answers.
	Events   uint64         `json:"events,omitempty"`
	Latency  *hdr.Histogram `json:"latency"`
	Header   *hdr.Histogram `json:"header,omitempty"`
	TTFB     *hdr.Histogram `json:"ttfb,omitempty"`
	EventGap *hdr.Histogram `json:"event_gap,omitempty"`
}

// Throughput is successful requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// ErrorCount is the number of failed requests.
func (r *Result) ErrorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// recorder is the per-worker part of a Result.
type recorder struct {
	ok, bytes, events, late    uint64
	errors                     map[string]uint64
	latency, header, ttfb, gap hdr.Histogram
}

func (rec *recorder) fail(kind string) {
	if rec.errors == nil {
		rec.errors = map[string]uint64{}
	}
	rec.errors[kind]++
}

// Run executes the load and returns what it measured. It stops early when
// ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Client == nil {
		return nil, errors.New("loadgen: no client")
	}
	if cfg.Concurrency <= 0 {
		return nil, fmt.Errorf("loadgen: concurrency %d: want at least 1", cfg.Concurrency)
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("loadgen: duration %v: want more than 0", cfg.Duration)
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("loadgen: rate %v: want 0 (closed loop) or more", cfg.Rate)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Request.Method == "" {
		cfg.Request.Method = http.MethodPost
	}
	if _, err := http.NewRequest(cfg.Request.Method, cfg.Request.URL, nil); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	var recs []*recorder
	if cfg.Rate > 0 {
		recs = runOpen(ctx, cfg, start, measureFrom, end)
	} else {
		recs = runClosed(ctx, cfg, measureFrom, end)
	}
	elapsed := min(time.Since(measureFrom), cfg.Duration)
	total := &recorder{}
	for _, rec := range recs {
		merge(total, rec)
		total.late += rec.late
	}
	res := &Result{Mode: "closed", Concurrency: cfg.Concurrency, Elapsed: elapsed,
		OK: total.ok, Bytes: total.bytes, Events: total.events, Late: total.late, Errors: total.errors,
		Latency: &total.latency, Header: &total.header, TTFB: &total.ttfb, EventGap: &total.gap}
	if cfg.Rate > 0 {
		res.Mode, res.Rate = "open", cfg.Rate
	}
	res.Requests = res.OK + res.ErrorCount()
	if res.Events == 0 {
		res.Header, res.TTFB, res.EventGap = nil, nil, nil
	}
	return res, ctx.Err()
}

func runClosed(ctx context.Context, cfg Config, measureFrom, end time.Time) []*recorder {
	recs := make([]*recorder, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range recs {
		rec := &recorder{}
		recs[w] = rec
		wg.Go(func() {
			scratch := make([]byte, 32<<10)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				do(ctx, cfg, t0, t0.Before(measureFrom), rec, scratch)
			}
		})
	}
	wg.Wait()
	return recs
}

// runOpen schedules requests at fixed intervals. Each in-flight request runs
// in its own goroutine and records into one of a few mutex-guarded shards.
func runOpen(ctx context.Context, cfg Config, start, measureFrom, end time.Time) []*recorder {
	const shards = 32
	recs := make([]*recorder, shards)
	locks := make([]sync.Mutex, shards)
	for i := range recs {
		recs[i] = &recorder{}
	}
	slots := make(chan struct{}, cfg.Concurrency)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	scratch := sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	var wg sync.WaitGroup
	var late atomic.Uint64
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; ctx.Err() == nil; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if !intended.Before(end) {
			break
		}
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		warm := intended.Before(measureFrom)
		select {
		case slots <- struct{}{}:
		default:
			if !warm {
				late.Add(1)
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				continue
			}
		}
		shard := i % shards
		wg.Go(func() {
			defer func() { <-slots }()
			local := &recorder{}
			buf := scratch.Get().(*[]byte)
			do(ctx, cfg, intended, warm, local, *buf)
			scratch.Put(buf)
			if warm {
				return
			}
			locks[shard].Lock()
			merge(recs[shard], local)
			locks[shard].Unlock()
		})
	}
	wg.Wait()
	recs[0].late += late.Load()
	return recs
}

func merge(dst, src *recorder) {
	dst.ok += src.ok
	dst.bytes += src.bytes
	dst.events += src.events
	for k, v := range src.errors {
		if dst.errors == nil {
			dst.errors = map[string]uint64{}
		}
		dst.errors[k] += v
	}
	dst.latency.Merge(&src.latency)
	dst.header.Merge(&src.header)
	dst.ttfb.Merge(&src.ttfb)
	dst.gap.Merge(&src.gap)
}

// do sends one request that was due at t0 and records it unless warm.
func do(ctx context.Context, cfg Config, t0 time.Time, warm bool, rec *recorder, scratch []byte) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, cfg.Request.Method, cfg.Request.URL, bytes.NewReader(cfg.Request.Body))
	if err != nil {
		rec.fail("request: " + err.Error())
		return
	}
	for k, v := range cfg.Request.Header {
		req.Header[k] = v
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		if !warm {
			rec.fail(classify(ctx, err))
		}
		return
	}
	defer resp.Body.Close()
	tHeader := time.Now()
	var ev streamStats
	var n int64
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		n, err = readEvents(resp.Body, scratch, &ev)
	} else {
		n, err = io.CopyBuffer(io.Discard, resp.Body, scratch)
	}
	done := time.Now()
	if warm {
		return
	}
	switch {
	case err != nil:
		rec.fail("body: " + classify(ctx, err))
		return
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		rec.fail("status " + strconv.Itoa(resp.StatusCode))
		return
	}
	rec.ok++
	rec.bytes += uint64(n)
	rec.latency.Record(done.Sub(t0))
	if ev.events > 0 {
		rec.events += ev.events
		rec.header.Record(tHeader.Sub(t0))
		rec.ttfb.Record(ev.first.Sub(t0))
		for _, g := range ev.gaps {
			rec.gap.Record(g)
		}
	}
}

func classify(ctx context.Context, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "eof"
	}
	msg := err.Error()
	for _, k := range []string{"connection reset", "connection refused", "broken pipe", "too many open files"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return "transport"
}

type streamStats struct {
	first  time.Time
	last   time.Time
	events uint64
	gaps   []time.Duration
}

// readEvents reads an SSE body, timing the first byte and each event's end
// (the blank line after a field; comment-only blocks such as keep-alives are
// not events). Lines end in LF or CRLF.
func readEvents(body io.Reader, scratch []byte, st *streamStats) (int64, error) {
	br := bufio.NewReaderSize(body, len(scratch))
	var n int64
	field := false // the current block has a field line
	mid := false   // inside a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		n += int64(len(line))
		if len(line) > 0 && st.first.IsZero() {
			st.first = time.Now()
		}
		if len(line) > 0 {
			if !mid {
				switch {
				case len(bytes.TrimRight(line, "\r\n")) == 0:
					if field {
						now := time.Now()
						if st.events > 0 {
							st.gaps = append(st.gaps, now.Sub(st.last))
						}
						st.events++
						st.last = now
					}
					field = false
				case line[0] != ':':
					field = true
				}
			}
			mid = errors.Is(err, bufio.ErrBufferFull)
		}
		if mid {
			continue
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
