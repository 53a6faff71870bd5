// Package h1client is a lean HTTP/1.1 client transport for cleartext
// upstreams (in-cluster model servers, sidecars, the benchmark mock).
//
// net/http's Transport runs two goroutines per connection (a read loop and
// a write loop) and hands every request and response between them and the
// caller over channels. For a proxy that holds thousands of slow streams
// that costs memory (two goroutine stacks and a 4 KiB write buffer per
// upstream connection) and CPU (scheduler hand-offs on every request).
// Transport here writes the request and reads the response on the caller's
// goroutine, borrows its write buffer from a pool only while writing, and
// keeps the standard library's wire format: responses are read by
// http.ReadResponse or, for a plain head, by readPlainResponse, which
// returns what it would; requests are written by writeRequest, byte for
// byte what Request.Write writes (each is checked against the standard
// library by a table test and a fuzz target). It speaks HTTP/1.1 over TCP
// only; TLS upstreams stay on net/http (and HTTP/2).
package h1client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/sockio"
)

// Transport is an http.RoundTripper for http:// URLs. Its zero value is not
// usable; create it with New.
type Transport struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*conn // by host:port, most recently used last
	closed bool               // Close was called: connections that come back are closed
}

// Options configure a Transport; zero fields take the defaults.
type Options struct {
	// ConnectTimeout bounds dialing; default 10s.
	ConnectTimeout time.Duration
	// MaxIdlePerHost is how many idle connections are kept per host:port;
	// default 256.
	MaxIdlePerHost int
	// IdleTimeout drops connections idle for longer; default 90s.
	IdleTimeout time.Duration
	// Dial replaces the TCP dialer (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New returns a Transport.
func New(o Options) *Transport {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = 256
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 90 * time.Second
	}
	dial := o.Dial
	if dial == nil {
		// Raw socket reads and writes, as for every socket on the request
		// path (see package sockio).
		dial = sockio.Dial(&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second})
	}
	return &Transport{dial: dial, maxIdle: o.MaxIdlePerHost, idleTimeout: o.IdleTimeout, idle: map[string][]*conn{}}
}

// conn is one upstream connection with its read buffer.
type conn struct {
	net.Conn
	br       *bufio.Reader
	addr     string
	idleFrom time.Time
}

// readBufSize is the per-connection read buffer. It is held as long as the
// connection lives (a stream that waits for its next token holds one), so
// it is small: it must hold a response head line and a chunk-size line
// (longer heads take a few more reads; net/http's textproto joins long
// lines), and reads of at least its size (stream relays, whole bodies) go
// past it straight into the caller's buffer.
const readBufSize = 1 << 10

var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}

// RoundTrip implements http.RoundTripper. The request's context bounds the
// whole exchange, the body's reading included: cancelling it unblocks any
// read or write. A request on a reused connection that the server had
// already closed is retried once on a new connection when its body can be
// replayed (GetBody) and no response byte was read.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" {
		closeBody(req)
		return nil, fmt.Errorf("h1client: unsupported URL %v (http only)", req.URL)
	}
	ctx := req.Context()
	addr := canonicalAddr(req)
	for retried := false; ; retried = true {
		c, reused, err := t.get(ctx, addr)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, stale, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		if retried || !reused || !stale || ctx.Err() != nil {
			closeBody(req)
			return nil, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, fmt.Errorf("h1client: rewind request body: %w", gerr)
			}
			r2 := *req
			r2.Body = body
			req = &r2
		}
	}
}

// exchange writes req on c and reads the response head. On success the
// returned body owns c; on error c is closed, and stale reports that no
// byte of an answer came back (what a server that had closed the idle
// connection looks like: the request may be sent again).
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request) (resp *http.Response, stale bool, err error) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	fail := func(stale bool, err error) (*http.Response, bool, error) {
		stop()
		c.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, false, fmt.Errorf("h1client: %w (%v)", cerr, err)
		}
		return nil, stale, fmt.Errorf("h1client: %w", err)
	}
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(c)
	err = writeRequest(bw, req)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	// A server may answer before reading the whole body (413, 401) and
	// close: the write then fails, but its answer is what the client
	// should get, so look for one before reporting the write error.
	writeErr := err
	for answered := false; ; answered = true {
		if _, err := c.br.Peek(1); err != nil {
			if writeErr != nil {
				return fail(!answered, fmt.Errorf("write request: %w", writeErr))
			}
			return fail(!answered, fmt.Errorf("read response: %w", err))
		}
		resp, err = readResponse(c.br, req)
		if err != nil {
			return fail(false, fmt.Errorf("read response: %w", err))
		}
		if resp.StatusCode >= 100 && resp.StatusCode <= 199 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // 100 Continue, 103 Early Hints: the real answer follows
		}
		keep := writeErr == nil && !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
		resp.Body = &body{ReadCloser: resp.Body, t: t, c: c, ctx: ctx, stop: stop, keep: keep}
		return resp, false, nil
	}
}

// body is a response body that returns its connection to the pool once it
// has been read to the end.
type body struct {
	io.ReadCloser
	t    *Transport
	c    *conn
	ctx  context.Context
	stop func() bool
	keep bool
	done atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.release(b.keep)
	case err != nil:
		if cerr := b.ctx.Err(); cerr != nil {
			err = fmt.Errorf("h1client: %w (%v)", cerr, err)
		}
		b.release(false)
	}
	return n, err
}

// Close closes the body; a body not read to the end takes its connection
// with it (reading the rest of a stream could take forever). Close may be
// called while a Read is blocked: closing the connection unblocks it.
func (b *body) Close() error {
	b.release(b.ReadCloser == http.NoBody && b.keep)
	return nil
}

func (b *body) release(reuse bool) {
	if b.done.Swap(true) {
		return
	}
	// stop reports false when the context already fired and poisoned the
	// connection's deadline: such a connection cannot be reused.
	if !b.stop() {
		reuse = false
	}
	if reuse && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.Close()
}

// get returns an idle connection to addr, or dials one.
func (t *Transport) get(ctx context.Context, addr string) (*conn, bool, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[addr]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		t.mu.Unlock()
		idle := now.Sub(c.idleFrom)
		// A connection idle for a while may have been closed by the server
		// (uvicorn closes after 5s): look before writing on it.
		if idle > t.idleTimeout || (idle > time.Second && !alive(c.Conn)) {
			c.Close()
			continue
		}
		return c, true, nil
	}
	nc, err := t.dialAside(ctx, addr)
	if err != nil {
		return nil, false, fmt.Errorf("h1client: dial %s: %w", addr, err)
	}
	return &conn{Conn: nc, br: bufio.NewReaderSize(nc, readBufSize), addr: addr}, false, nil
}

// dialAside dials on a goroutine of its own. Dialing is the deepest call
// a request makes (net's dialer and resolver need about 8.5 KiB of
// stack); made on the caller's goroutine it would double that stack to
// 16 KiB for as long as the request runs, which for a model stream is
// minutes, and stacks are most of what an idle stream costs.
func (t *Transport) dialAside(ctx context.Context, addr string) (net.Conn, error) {
	type dialed struct {
		nc  net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		nc, err := t.dial(ctx, "tcp", addr)
		ch <- dialed{nc, err}
	}()
	d := <-ch
	return d.nc, d.err
}

// put returns c to the idle pool, or closes it when the pool is full.
func (t *Transport) put(c *conn) {
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return
	}
	c.idleFrom = time.Now()
	t.mu.Lock()
	if t.closed || len(t.idle[c.addr]) >= t.maxIdle {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
	t.mu.Unlock()
}

// CloseIdleConnections closes every idle connection.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*conn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.Close()
		}
	}
}

// Close closes every idle connection and, from then on, every connection
// that comes back from a request in flight; new requests still work, on
// connections closed after use. A reload that retires the pool calls it.
func (t *Transport) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// IdleConnections reports how many connections wait in the pool (tests,
// metrics).
func (t *Transport) IdleConnections() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, list := range t.idle {
		n += len(list)
	}
	return n
}

func canonicalAddr(req *http.Request) string {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port != "" && !strings.Contains(host, ":") {
		return req.URL.Host // host:port already, as JoinHostPort would build it
	}
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(host, port)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
