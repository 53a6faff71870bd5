package h1server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/weir-gateway/weir/userspace/sockio"
)

type connState int

const (
	stateIdle     connState = iota // waiting for a request's first byte
	stateActive                    // reading or answering a request
	stateHijacked                  // the handler (or the HTTP/2 server) owns the connection
	stateClosed
)

// conn is one client connection.
type conn struct {
	srv    *Server
	rwc    net.Conn        // as accepted; a *tls.Conn on TLS listeners
	tcp    syscall.RawConn // the TCP socket under rwc, for peeking and the hang-up watch; nil if none
	plain  bool            // rwc is the TCP socket itself, so its read buffer can go back to the pool while no bytes are pending
	lr     limitReader     // rwc, bounded while headers are read
	br     *bufio.Reader   // nil while given back
	remote string
	tls    *tls.ConnectionState
	post   bool            // the last request was a POST: CR and LF before the next are skipped
	header http.Header     // the last response's header map, cleared, for the next response; nil while idle
	ctx    context.Context // the requests' parent: http.ServerContextKey and http.LocalAddrContextKey

	// wmu orders a "100 Continue" (written from whatever goroutine reads
	// the request body) against the response's first bytes.
	wmu sync.Mutex

	mu      sync.Mutex
	state   connState
	cancel  context.CancelFunc // the running request's
	hungUp  bool               // the client closed its side
	watchID uint64
}

// limitReader reads from r while n > 0, like io.LimitedReader but reset
// in place for every request's header block. While capture is set, what
// it reads is also appended there.
type limitReader struct {
	r       io.Reader
	n       int64
	capture *[]byte
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.capture != nil {
		*l.capture = append(*l.capture, p[:n]...)
	}
	return n, err
}

var capturePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readRequest reads the next request with readPlainRequest or
// http.ReadRequest, and counts the Host fields of its header block: a
// request with two of them must be
// refused, as net/http's server does, so that weir and a proxy in front of
// it cannot route one request by different hosts.
func (c *conn) readRequest() (req *http.Request, hosts int, host string, err error) {
	if req, hosts, host := readPlainRequest(c.br, c.srv.maxHeaderBytes()); req != nil {
		return req, hosts, host, nil
	}
	capture := capturePool.Get().(*[]byte)
	buffered, _ := c.br.Peek(c.br.Buffered())
	*capture = append((*capture)[:0], buffered...)
	c.lr.capture = capture
	req, err = http.ReadRequest(c.br)
	c.lr.capture = nil
	if err == nil {
		hosts, host = scanHosts(*capture)
	}
	if cap(*capture) <= 64<<10 {
		capturePool.Put(capture)
	}
	return req, hosts, host, err
}

// scanHosts counts the Host fields of the header block that starts at
// b's second line, and returns the first one's value.
func scanHosts(b []byte) (n int, first string) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, ""
	}
	b = b[i+1:]
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if len(line) >= 5 && line[4] == ':' && strings.EqualFold(string(line[:4]), "host") {
			n++
			if n == 1 {
				first = string(bytes.Trim(line[5:], " \t"))
			}
		}
	}
	return n, first
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func newConn(s *Server, rw net.Conn) *conn {
	c := &conn{srv: s, rwc: rw, remote: rw.RemoteAddr().String(), state: stateIdle}
	c.ctx = context.WithValue(context.WithValue(context.Background(),
		http.ServerContextKey, s.contextServer()), http.LocalAddrContextKey, rw.LocalAddr())
	c.lr = limitReader{r: rw, n: math.MaxInt64}
	var under net.Conn = rw
	if tc, ok := rw.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	if tcp, ok := sockio.Unwrap(under).(*net.TCPConn); ok {
		if raw, err := tcp.SyscallConn(); err == nil {
			c.tcp = raw
			c.plain = canPeek && under == rw
		}
	}
	return c
}

// serve runs the connection's requests one after the other.
func (c *conn) serve() {
	defer c.close()
	if tc, ok := c.rwc.(*tls.Conn); ok {
		if !c.handshake(tc) {
			return
		}
	}
	watcher().add(c)
	for first := true; ; first = false {
		if !c.awaitRequest(first) {
			return
		}
		if first && c.tls == nil && c.srv.HTTP2 != nil && c.h2Preface() {
			c.handoffH2()
			return
		}
		if !c.serveRequest() || c.srv.closing.Load() {
			return
		}
	}
}

func (c *conn) handshake(tc *tls.Conn) bool {
	_ = c.rwc.SetDeadline(time.Now().Add(c.srv.readHeaderTimeout()))
	if err := tc.Handshake(); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader[:]) {
			// Tell a client that spoke plain HTTP to a TLS port, as
			// net/http does, rather than hang up on it.
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			return false
		}
		c.srv.log().Debug("http: TLS handshake error", "remote", c.remote, "err", err)
		return false
	}
	_ = c.rwc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	if st.NegotiatedProtocol == "h2" && c.srv.HTTP2 != nil {
		c.handoffH2()
		return false
	}
	return true
}

// hotWait is how long an idle connection waits for its next request with
// its read buffer: keep-alive clients usually come back sooner, and then
// the wait costs no system call beyond the read. Past it, a plain
// connection gives the buffer back and waits on the socket.
const hotWait = time.Second

// looksLikeHTTP reports whether a TLS record header is the start of a
// plain HTTP request.
func looksLikeHTTP(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// awaitRequest waits, as an idle connection, for the next request's first
// byte, then arms the header timeout. It reports false when the
// connection is done.
func (c *conn) awaitRequest(first bool) bool {
	wait := c.srv.idleTimeout()
	if first {
		wait = c.srv.readHeaderTimeout()
	}
	if !c.setState(stateIdle) {
		return false
	}
	start := time.Now()
	if c.br == nil {
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&c.lr)
	}
	if c.br.Buffered() == 0 {
		hot := wait
		if c.plain {
			hot = min(wait, hotWait)
		}
		_ = c.rwc.SetReadDeadline(start.Add(hot))
		_, err := c.br.Peek(1)
		if err != nil && hot < wait && isTimeout(err) {
			c.releaseReader()
			_ = c.rwc.SetReadDeadline(start.Add(wait))
			err = peekSocket(c.tcp)
		}
		if err != nil {
			return false
		}
	}
	if !c.setState(stateActive) {
		return false
	}
	if c.br == nil {
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&c.lr)
	}
	// The headers' deadline: from the connection's start for the first
	// request, from its first byte for the others.
	if first {
		_ = c.rwc.SetReadDeadline(start.Add(wait))
	} else {
		_ = c.rwc.SetReadDeadline(time.Now().Add(c.srv.readHeaderTimeout()))
	}
	return true
}

// releaseReader gives the read buffer back; only when nothing is buffered.
func (c *conn) releaseReader() {
	c.header = nil // an idle connection holds no header map either
	if c.br != nil && c.br.Buffered() == 0 {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
}

func (c *conn) setState(st connState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed || c.state == stateHijacked {
		return false
	}
	c.state = st
	return true
}

// closeIfIdle closes the connection if it is waiting for a request.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateIdle {
		c.state = stateClosed
		_ = c.rwc.Close()
	}
}

// hangUp is called by the watcher when the client closed its side: the
// running request (and any later one) is cancelled.
func (c *conn) hangUp() {
	c.mu.Lock()
	c.hungUp = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (c *conn) setCancel(cancel context.CancelFunc) {
	c.mu.Lock()
	c.cancel = cancel
	hungUp := c.hungUp
	c.mu.Unlock()
	if hungUp && cancel != nil {
		cancel()
	}
}

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2Preface reports whether the connection opens with the HTTP/2
// connection preface (h2c with prior knowledge).
func (c *conn) h2Preface() bool {
	if b, err := c.br.Peek(1); err != nil || b[0] != 'P' {
		return false
	}
	// Its first line first: an HTTP/1 request starting with P ("PUT /
	// HTTP/1.0" and its CRLFs) may be shorter than the whole preface.
	const line = len("PRI * HTTP/2.0")
	if b, err := c.br.Peek(line); err != nil || string(b) != h2Preface[:line] {
		return false
	}
	b, err := c.br.Peek(len(h2Preface))
	return err == nil && string(b) == h2Preface
}

// handoffH2 gives the connection, with what was already read, to the
// HTTP/2 server. A TLS connection is handed over right after its
// handshake, before anything is read into c.br, and as the *tls.Conn the
// server looks for. A plain one goes through a read buffer that starts
// with the bytes already read (the preface at least): net/http's HTTP/2
// server reads frame by frame, a 9-byte header and then the payload, from
// the connection it is given, which on a plain socket is two system calls
// per frame.
func (c *conn) handoffH2() {
	if !c.detach() {
		return
	}
	var hc net.Conn = c.rwc
	if c.tls == nil {
		var prefix []byte
		if c.br != nil && c.br.Buffered() > 0 {
			b, _ := c.br.Peek(c.br.Buffered())
			prefix = bytes.Clone(b)
			_, _ = c.br.Discard(len(b)) // so releaseReader gives it back
		}
		hc = &bufferedConn{Conn: c.rwc, r: bufio.NewReaderSize(io.MultiReader(bytes.NewReader(prefix), c.rwc), 4096)}
	}
	c.releaseReader()
	c.srv.handoff(hc)
}

// bufferedConn reads Conn through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// detach takes the connection out of the server's hands (hijack, HTTP/2).
func (c *conn) detach() bool {
	c.mu.Lock()
	if c.state == stateClosed || c.state == stateHijacked {
		c.mu.Unlock()
		return false
	}
	c.state = stateHijacked
	c.mu.Unlock()
	watcher().remove(c)
	c.srv.trackConn(c, false)
	_ = c.rwc.SetDeadline(time.Time{})
	return true
}

func (c *conn) close() {
	c.mu.Lock()
	st := c.state
	if st != stateHijacked {
		c.state = stateClosed
	}
	c.mu.Unlock()
	if st == stateHijacked {
		return
	}
	watcher().remove(c)
	c.srv.trackConn(c, false)
	_ = c.rwc.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
}

// serveRequest reads one request, runs the handler and finishes the
// response. It reports whether the connection may carry another request.
func (c *conn) serveRequest() bool {
	if c.post {
		// RFC 9112 2.2: old clients send CRLF after a POST body.
		peek, _ := c.br.Peek(4)
		n := 0
		for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
			n++
		}
		_, _ = c.br.Discard(n)
	}
	c.lr.n = c.srv.maxHeaderBytes() + 4096 // net/http's slack for the request line
	req, hosts, host, err := c.readRequest()
	hitLimit := c.lr.n <= 0
	c.lr.n = math.MaxInt64
	if err != nil {
		c.reject(err, hitLimit)
		return false
	}
	_ = c.rwc.SetReadDeadline(time.Time{})
	if code, msg := validate(req, hosts, host); code != 0 {
		c.writeError(code, msg)
		return false
	}

	c.post = req.Method == http.MethodPost
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	req = req.WithContext(ctx)
	req.RemoteAddr = c.remote
	req.TLS = c.tls
	b := &body{c: c, rc: req.Body, eof: req.Body == http.NoBody}
	if req.Body != http.NoBody {
		req.Body = b
	}
	w := newResponse(c, req, b)
	defer w.releaseAll()

	if expect := req.Header.Get("Expect"); expect != "" {
		if !hasToken(expect, "100-continue") {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusExpectationFailed)
			w.finish()
			return false
		}
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 {
			b.wantContinue = true
		}
	}

	handler := c.srv.Handler
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		handler = http.HandlerFunc(globalOptions)
	}
	c.setCancel(cancel)
	ok := c.runHandler(handler, w, req)
	c.setCancel(nil)
	if w.hijacked {
		return false
	}
	if !ok {
		w.abort()
		return false
	}
	w.finish()
	if w.closeAfter || w.err != nil {
		if w.err == nil && b.unread() {
			c.lingerClose()
		}
		return false
	}
	return b.drain()
}

// runHandler calls the handler; a panic ends the connection (and, unless
// it is http.ErrAbortHandler, is logged), as net/http does.
func (c *conn) runHandler(h http.Handler, w *response, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.log().Error("http: panic serving", "remote", c.remote, "panic", fmt.Sprint(v), "stack", string(buf))
			}
		}
	}()
	h.ServeHTTP(w, req)
	return true
}

// globalOptions answers "OPTIONS *" as net/http does, without the
// handler: an empty 200, at most 4 KiB of body read.
func globalOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
}

// lingerClose half-closes and reads what the client still sends for a
// moment before the connection is closed: closing a socket with unread
// input resets it, and the reset can destroy the response in flight (a
// 413 for a body the handler refused to read).
func (c *conn) lingerClose() {
	tcp, ok := sockio.Unwrap(c.rwc).(*net.TCPConn)
	if !ok {
		return
	}
	_ = tcp.CloseWrite()
	_ = tcp.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.CopyN(io.Discard, tcp, 4<<20)
}

// reject answers a request that could not be read, as net/http does: a
// client that went away or timed out gets nothing.
func (c *conn) reject(err error, hitLimit bool) {
	var ne net.Error
	switch {
	case hitLimit:
		c.writeError(http.StatusRequestHeaderFieldsTooLarge, "")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &ne) && ne.Timeout():
	case strings.HasPrefix(err.Error(), "unsupported transfer encoding"), strings.HasPrefix(err.Error(), "too many transfer encodings"):
		c.writeError(http.StatusNotImplemented, "")
	default:
		c.writeError(http.StatusBadRequest, "")
	}
}

// validate applies the checks net/http's server makes beyond
// http.ReadRequest's parsing.
func validate(req *http.Request, hosts int, host string) (int, string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	switch {
	case req.ProtoAtLeast(1, 1) && hosts == 0 && req.Method != http.MethodConnect:
		return http.StatusBadRequest, "missing required Host header"
	case hosts > 1:
		return http.StatusBadRequest, "too many Host headers"
	case hosts == 1 && !httpguts.ValidHostHeader(host):
		return http.StatusBadRequest, "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest, "invalid header value"
			}
		}
	}
	return 0, ""
}

// writeError answers with a plain-text error and marks the connection for
// closing, for requests no handler saw.
func (c *conn) writeError(code int, reason string) {
	text := fmt.Sprintf("%d %s", code, http.StatusText(code))
	if reason != "" {
		text += ": " + reason
	}
	_ = c.rwc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = fmt.Fprintf(c.rwc, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s", code, http.StatusText(code), text)
	if code == http.StatusRequestHeaderFieldsTooLarge {
		c.lingerClose() // the client may still be sending headers
	}
}

// hasToken reports whether the comma-separated header value v holds
// token, case-insensitively.
func hasToken(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// body is the request body handed to the handler. It sends "100
// Continue" on the first read when the client asked for it, remembers
// whether the body was read to its end (so the connection can be reused
// and the read buffer given back), and makes Close cheap: the rest of an
// unread body is drained, bounded, after the handler returns, not in
// Close.
type body struct {
	c  *conn
	rc io.ReadCloser

	mu           sync.Mutex
	w            *response
	wantContinue bool // the client sent "Expect: 100-continue"
	sentContinue bool
	eof          bool
	closed       bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.eof:
		return 0, io.EOF
	}
	if b.wantContinue && !b.sentContinue {
		b.sentContinue = true
		if err := b.w.writeContinue(); err != nil {
			return 0, err
		}
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// unread reports whether some of the body may still be on its way.
func (b *body) unread() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.eof
}

// drain reads and discards up to maxPostHandlerReadBytes of what the
// handler left unread; it reports whether the body ended, so the
// connection can carry the next request.
func (b *body) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.wantContinue && !b.sentContinue {
		return false // the client may never send it
	}
	_, err := io.CopyN(io.Discard, b.rc, maxPostHandlerReadBytes+1)
	if err == io.EOF {
		b.eof = true
		return true
	}
	return false
}

// isTimeout reports whether err is a net.Error timeout. It is a function of
// its own so that the net.Error it is read into is allocated only for an
// error, not on every call of the caller.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
