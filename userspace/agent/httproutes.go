package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
	"github.com/weir-gateway/weir/userspace/metrics"
)

// plainRoutes serves the non-AI HTTP routes (config routes:, e.g. imported
// from Ingress objects) on the same listeners as the AI API. A request whose
// host and path a route claims goes there; everything else reaches the AI
// routes, so both can share a host.
type plainRoutes struct {
	cur     atomic.Pointer[httproute.Table]
	metrics *metrics.Metrics
	access  *slog.Logger
}

// compile builds the table of c's routes without installing it.
func (p *plainRoutes) compile(c *config.Config) (*httproute.Table, error) {
	t, err := httproute.New(c.Routes)
	if err != nil {
		return nil, fmt.Errorf("compile routes: %w", err)
	}
	return t, nil
}

// install swaps t in; the previous table's idle connections are closed
// (requests in flight on it finish).
func (p *plainRoutes) install(t *httproute.Table) {
	if old := p.cur.Swap(t); old != nil {
		old.Close()
	}
}

func (p *plainRoutes) close() error {
	p.install(nil)
	return nil
}

// handler sends claimed requests to their route and the rest to next.
func (p *plainRoutes) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := p.cur.Load()
		h, ok := t.Match(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		p.serve(h, w, r)
	})
}

// statusWriter records the status for metrics and the access log; Unwrap
// keeps flushing and hijacking (WebSocket) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (p *plainRoutes) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	name := "route"
	if rt, ok := h.(*httproute.Route); ok {
		name = rt.Name()
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		proto := "http/1.1"
		switch r.ProtoMajor {
		case 2:
			proto = "h2"
		case 3:
			proto = "h3"
		}
		p.metrics.Requests.WithLabelValues("http", name, metrics.None, strconv.Itoa(status), proto).Inc()
		if p.access != nil {
			p.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
				slog.String("request_id", w.Header().Get("X-Request-Id")),
				slog.String("method", r.Method),
				slog.String("host", r.Host),
				slog.String("path", r.URL.Path),
				slog.String("protocol", proto),
				slog.String("api", "http"),
				slog.String("route", name),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
		}
	}()
	h.ServeHTTP(sw, r)
}
