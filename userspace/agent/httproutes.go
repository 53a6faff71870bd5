package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
	"github.com/weir-gateway/weir/userspace/metrics"
	"github.com/weir-gateway/weir/userspace/proxy"
)

// plainRoutes serves the non-AI HTTP routes (config routes:, e.g. imported
// from Ingress objects) on the same listeners as the AI API. A request whose
// host and path a route claims goes there; everything else reaches the AI
// routes, so both can share a host.
//
// The routes come from two sources: the config file and the Kubernetes
// provider (kube.go). The table serves both, the file's first; each source's
// change recompiles with the other's latest routes.
type plainRoutes struct {
	cur     atomic.Pointer[httproute.Table]
	metrics *metrics.Metrics
	access  *slog.Logger
	log     *slog.Logger // set by startKube; nil without Kubernetes

	mu      sync.Mutex
	file    []config.Route // the routes of the config in force
	kube    []config.Route // the Kubernetes routes in force
	kubeGen uint64         // counts installMerged calls that changed kube
	// pending is the table compile made last, with what it was made from;
	// install takes the file routes over when it installs that table.
	pending        *httproute.Table
	pendingFile    []config.Route
	pendingKubeGen uint64

	// certs are the Kubernetes TLS Secrets' certificates, chosen by SNI.
	certs atomic.Pointer[httproute.CertStore]
}

// GetCertificate picks an Ingress certificate by SNI; nil lets the
// listener use its own.
func (p *plainRoutes) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return p.certs.Load().GetCertificate(hello)
}

// mergeRoutes is the served set: the file's routes, then Kubernetes's.
// Merged routes are validated again: together they may conflict (a name or a
// host and path both claim).
func mergeRoutes(file, kube []config.Route) ([]config.Route, error) {
	if len(kube) == 0 {
		return file, nil
	}
	merged := append(slices.Clip(file), kube...)
	problems := config.ValidateRoutes(merged)
	if len(problems) == 0 {
		return merged, nil
	}
	msgs := make([]string, 0, len(problems))
	for _, pr := range problems {
		msg := pr.String()
		var i int
		if _, err := fmt.Sscanf(pr.Path, "routes[%d]", &i); err == nil && i >= 0 && i < len(merged) {
			src := "file"
			if i >= len(file) {
				src = "kubernetes"
			}
			msg = fmt.Sprintf("%s route %q: %s", src, merged[i].Name, msg)
		}
		msgs = append(msgs, msg)
	}
	return nil, fmt.Errorf("file and kubernetes routes conflict: %s", strings.Join(msgs, "; "))
}

func compileRoutes(file, kube []config.Route) (*httproute.Table, error) {
	merged, err := mergeRoutes(file, kube)
	if err != nil {
		return nil, err
	}
	t, err := httproute.New(merged)
	if err != nil {
		return nil, fmt.Errorf("compile routes: %w", err)
	}
	return t, nil
}

// compile builds the table of c's routes and the latest Kubernetes routes
// without installing it.
func (p *plainRoutes) compile(c *config.Config) (*httproute.Table, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, err := compileRoutes(c.Routes, p.kube)
	if err != nil {
		return nil, err
	}
	if p.pending != nil && p.pending != p.cur.Load() {
		p.pending.Close() // compiled, never installed
	}
	p.pending, p.pendingFile, p.pendingKubeGen = t, c.Routes, p.kubeGen
	return t, nil
}

// install swaps t in; the previous table's idle connections are closed
// (requests in flight on it finish). A table from compile makes its file
// routes the ones in force; when Kubernetes routes changed in between, the
// table is rebuilt with them.
func (p *plainRoutes) install(t *httproute.Table) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t != nil && t == p.pending {
		p.file = p.pendingFile
		if p.kubeGen != p.pendingKubeGen {
			if nt, err := compileRoutes(p.file, p.kube); err == nil {
				t.Close()
				t = nt
			} else if p.log != nil {
				p.log.Error("the new file routes conflict with the latest kubernetes routes; serving them with the previous kubernetes routes", "err", err.Error())
			}
		}
		p.pending, p.pendingFile = nil, nil
	}
	p.swap(t)
}

// installMerged serves kube beside the file routes in force. When the two
// do not validate or compile together, the current table keeps serving and
// the error says why.
func (p *plainRoutes) installMerged(kube []config.Route) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, err := compileRoutes(p.file, kube)
	if err != nil {
		return err
	}
	p.kube = kube
	p.kubeGen++
	p.swap(t)
	return nil
}

// kernelRoutes returns file with the Kubernetes routes in force: what the
// kernel guard's port rules are compiled from. When the two do not merge
// (the table then keeps serving the previous set), file alone.
func (p *plainRoutes) kernelRoutes(file []config.Route) []config.Route {
	p.mu.Lock()
	kube := p.kube
	p.mu.Unlock()
	merged, err := mergeRoutes(file, kube)
	if err != nil {
		return file
	}
	return merged
}

func (p *plainRoutes) swap(t *httproute.Table) {
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
		proto := proxy.ProtocolLabel(r)
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
