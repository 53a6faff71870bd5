package httproute

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/sockio"
)

// Pool defaults.
const (
	defaultKeepAlive      = 32
	defaultConnectTimeout = 5 * time.Second
	defaultReadTimeout    = 60 * time.Second
	defaultCookie         = "INGRESSCOOKIE"
	ringReplicas          = 100
	// ewmaDecay is the time constant of the latency average.
	ewmaDecay = 10 * time.Second
)

// pool is an upstream: servers, a balancer and one HTTP transport.
type pool struct {
	servers    []*backend
	scheme     string
	transport  *http.Transport
	hostHeader string
	balance    string
	hashBy     string
	ring       []ringPoint
	affinity   *config.RouteAffinity
	cookiePath string
	retryOn    []string
	tries      int
	// retryTimeout bounds the time after which no other server is tried
	// (nginx's proxy_next_upstream_timeout); 0 is no bound.
	retryTimeout time.Duration
	// readTimeout bounds the wait for the response headers and then each
	// wait for more of the body, as nginx's proxy_read_timeout.
	readTimeout time.Duration
	rr          atomic.Uint64
	rnd         *lockedRand
}

// backend is one server of a pool with its EWMA state.
type backend struct {
	addr     string
	cookie   string // affinity cookie value
	inflight atomic.Int64
	mu       sync.Mutex
	ewma     float64 // seconds
	last     time.Time
}

type ringPoint struct {
	hash uint64
	idx  int
}

func newPool(u config.RouteUpstream, routePath string, rnd *lockedRand) (*pool, error) {
	if len(u.Servers) == 0 {
		return nil, errors.New("no servers")
	}
	p := &pool{
		scheme:     "http",
		hostHeader: u.HostHeader,
		balance:    cmp.Or(u.Balance, config.BalanceRoundRobin),
		hashBy:     u.HashBy,
		affinity:   u.Affinity,
		retryOn:    u.Retry.On,
		tries:      u.Retry.Tries,
		rnd:        rnd,
	}
	for _, s := range u.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("server %q: %w", s, err)
		}
		p.servers = append(p.servers, &backend{addr: s, cookie: cookieValue(s)})
	}
	if p.balance == config.BalanceHash {
		if p.hashBy == "" || !config.HashByVars(p.hashBy) {
			return nil, fmt.Errorf("hash_by %q is not usable", p.hashBy)
		}
		p.buildRing()
	}
	if a := p.affinity; a != nil {
		p.cookiePath = cmp.Or(a.Path, routePath)
		if !strings.HasPrefix(p.cookiePath, "/") || strings.ContainsAny(p.cookiePath, "()[]*+?^$|\\") {
			p.cookiePath = "/" // a regex path is no cookie path
		}
	}
	var protos http.Protocols
	tlsConf, err := upstreamTLSConfig(u.TLS)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	switch cmp.Or(u.Protocol, config.ProtocolHTTP) {
	case config.ProtocolHTTP:
		protos.SetHTTP1(true)
	case config.ProtocolHTTPS:
		p.scheme = "https"
		protos.SetHTTP1(true)
	case config.ProtocolH2C:
		protos.SetUnencryptedHTTP2(true)
	case config.ProtocolH2:
		p.scheme = "https"
		protos.SetHTTP2(true)
	default:
		return nil, fmt.Errorf("unknown protocol %q", u.Protocol)
	}
	connect := cmp.Or(u.ConnectTimeout.D(), defaultConnectTimeout)
	p.readTimeout = cmp.Or(u.ReadTimeout.D(), defaultReadTimeout)
	p.retryTimeout = u.Retry.Timeout.D()
	// Raw socket reads and writes, as for providers (see package sockio).
	dial := sockio.Dial(&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second})
	if st := u.SendTimeout.D(); st > 0 {
		dial = sendTimeoutDialer(dial, st)
	}
	p.transport = &http.Transport{
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   connect,
		MaxIdleConnsPerHost:   cmp.Or(u.KeepAlive, defaultKeepAlive),
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: p.readTimeout,
		ExpectContinueTimeout: time.Second,
		Protocols:             &protos,
	}
	return p, nil
}

func (p *pool) close() { p.transport.CloseIdleConnections() }

// cookieValue names a server in the affinity cookie without exposing its address.
func cookieValue(addr string) string {
	h := fnv.New64a()
	h.Write([]byte(addr))
	return strconv.FormatUint(h.Sum64(), 16)
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	// fnv's low bits mix poorly for short keys; finish with a 64-bit mixer.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func (p *pool) buildRing() {
	for i, b := range p.servers {
		for r := range ringReplicas {
			p.ring = append(p.ring, ringPoint{hash: hash64(b.addr + "#" + strconv.Itoa(r)), idx: i})
		}
	}
	slices.SortFunc(p.ring, func(a, b ringPoint) int { return cmp.Compare(a.hash, b.hash) })
}

// attempt is the state of one proxied request across retries.
type attempt struct {
	in        *http.Request // the client's request
	cancel    context.CancelCauseFunc
	pool      *pool
	first     int  // the server picked before proxying
	used      int  // the server that answered
	setCookie bool // the client has no valid affinity cookie
}

type attemptKey struct{}

// start picks the first server for r.
func (p *pool) start(r *http.Request) *attempt {
	a := &attempt{pool: p}
	if p.affinity != nil {
		name := cmp.Or(p.affinity.Cookie, defaultCookie)
		if ck, err := r.Cookie(name); err == nil {
			for i, b := range p.servers {
				if b.cookie == ck.Value {
					a.first, a.used = i, i
					return a
				}
			}
		}
		a.setCookie = true
	}
	a.first = p.pick(r)
	a.used = a.first
	return a
}

func (p *pool) pick(r *http.Request) int {
	n := len(p.servers)
	if n == 1 {
		return 0
	}
	switch p.balance {
	case config.BalanceHash:
		h := hash64(expandHashKey(p.hashBy, r))
		i, _ := slices.BinarySearchFunc(p.ring, h, func(pt ringPoint, h uint64) int { return cmp.Compare(pt.hash, h) })
		if i == len(p.ring) {
			i = 0
		}
		return p.ring[i].idx
	case config.BalanceEWMA:
		// The better of two random servers ("power of two choices").
		i := p.rnd.IntN(n)
		j := p.rnd.IntN(n - 1)
		if j >= i {
			j++
		}
		if p.servers[j].score() < p.servers[i].score() {
			return j
		}
		return i
	}
	return int((p.rr.Add(1) - 1) % uint64(n))
}

// score is the expected wait at a server: decayed latency × (load + 1).
func (b *backend) score() float64 {
	b.mu.Lock()
	e := b.ewma
	b.mu.Unlock()
	return e * float64(b.inflight.Load()+1)
}

func (b *backend) observe(d time.Duration) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.ewma = d.Seconds()
	} else {
		w := math.Exp(-float64(now.Sub(b.last)) / float64(ewmaDecay))
		b.ewma = b.ewma*w + d.Seconds()*(1-w)
	}
	b.last = now
}

// expandHashKey replaces the nginx variables of hash_by with the request's values.
func expandHashKey(tmpl string, r *http.Request) string {
	return config.HashVar.ReplaceAllStringFunc(tmpl, func(v string) string {
		name := v[1:]
		switch {
		case name == "remote_addr":
			if ip, ok := clientAddr(r); ok {
				return ip.String()
			}
			return ""
		case name == "host":
			return requestHost(r)
		case name == "uri":
			return r.URL.Path
		case name == "request_uri":
			return r.URL.RequestURI()
		case strings.HasPrefix(name, "http_"):
			return r.Header.Get(strings.ReplaceAll(name[5:], "_", "-"))
		case strings.HasPrefix(name, "cookie_"):
			if ck, err := r.Cookie(name[7:]); err == nil {
				return ck.Value
			}
			return ""
		case strings.HasPrefix(name, "arg_"):
			return r.URL.Query().Get(name[4:])
		}
		return v
	})
}

func (p *pool) setAffinity(resp *http.Response, a *attempt) {
	if p.affinity == nil || !a.setCookie && a.used == a.first {
		return
	}
	af := p.affinity
	ck := &http.Cookie{
		Name:     cmp.Or(af.Cookie, defaultCookie),
		Value:    p.servers[a.used].cookie,
		Path:     p.cookiePath,
		HttpOnly: true,
		Secure:   af.Secure,
	}
	if af.MaxAge > 0 {
		ck.MaxAge = int(af.MaxAge.D() / time.Second)
	}
	switch af.SameSite {
	case "lax":
		ck.SameSite = http.SameSiteLaxMode
	case "strict":
		ck.SameSite = http.SameSiteStrictMode
	case "none":
		ck.SameSite = http.SameSiteNoneMode
	}
	if v := ck.String(); v != "" {
		resp.Header.Add("Set-Cookie", v)
	}
}

// attemptTransport sends a request to the attempt's server and, for
// requests without a body, to the next servers on the conditions of
// retry.on (nginx's proxy_next_upstream), each server at most once.
type attemptTransport struct{}

func (attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a, ok := req.Context().Value(attemptKey{}).(*attempt)
	if !ok {
		return nil, errors.New("httproute: request without an attempt")
	}
	p := a.pool
	n := len(p.servers)
	tries := 1
	if len(p.retryOn) > 0 && (req.Body == nil || req.Body == http.NoBody) {
		tries = n
		if p.tries > 0 {
			tries = min(p.tries, n)
		}
	}
	var lastErr error
	start := time.Now()
	for i := range tries {
		idx := (a.first + i) % n
		b := p.servers[idx]
		out := req
		if i > 0 {
			out = req.Clone(req.Context())
		}
		out.URL.Host = b.addr
		b.inflight.Add(1)
		sent := time.Now()
		resp, err := p.transport.RoundTrip(out)
		b.inflight.Add(-1)
		if p.balance == config.BalanceEWMA {
			d := time.Since(sent)
			if err != nil {
				d = max(d, time.Second) // a failing server looks slow
			}
			b.observe(d)
		}
		a.used = idx
		// Past the retry timeout this answer is the last one, as nginx
		// passes a request to the next server only within it.
		last := i == tries-1 || p.retryTimeout > 0 && time.Since(start) >= p.retryTimeout
		switch {
		case err != nil:
			if last || !p.retryAfter(err) || req.Context().Err() != nil {
				return nil, err
			}
			lastErr = err
		case !last && slices.Contains(p.retryOn, strconv.Itoa(resp.StatusCode)) && resp.StatusCode != http.StatusSwitchingProtocols:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		default:
			return resp, nil
		}
	}
	return nil, lastErr
}

func (p *pool) retryAfter(err error) bool {
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
	if timeout {
		return slices.Contains(p.retryOn, "timeout")
	}
	return slices.Contains(p.retryOn, "error")
}

// errReadTimeout ends a response whose upstream went quiet for longer than
// the read timeout.
var errReadTimeout = errors.New("httproute: upstream read timeout")

// idleBody cancels the exchange when no Read returns within d.
type idleBody struct {
	io.ReadCloser
	d time.Duration
	t *time.Timer
}

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) *idleBody {
	return &idleBody{ReadCloser: rc, d: d, t: time.AfterFunc(d, func() { cancel(errReadTimeout) })}
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.t.Reset(b.d)
	return n, err
}

func (b *idleBody) Close() error {
	b.t.Stop()
	return b.ReadCloser.Close()
}
