package h1server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weir-gateway/weir/internal/weirtest"
)

// The tests run every scenario against two servers: net/http's http.Server,
// the reference whose behaviour h1server promises to keep, and h1server. A
// scenario that fails on the reference is a broken test, not a server bug.

// server is what both implementations offer.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// options configures a server under test the same way for both
// implementations.
type options struct {
	handler           http.Handler
	readHeaderTimeout time.Duration // 0: h1server's default (10s)
	idleTimeout       time.Duration // 0: h1server's default (120s)
	maxHeaderBytes    int
	tls               *tls.Config
	h2                bool // offer HTTP/2: h2c prior knowledge, and ALPN h2 with TLS
}

// impl is one server implementation under test.
type impl struct {
	name string
	new  func(o options, log *slog.Logger) server
}

var impls = []impl{
	{name: "net-http", new: newReference},
	{name: "h1server", new: newH1server},
}

func newH1server(o options, log *slog.Logger) server {
	s := &Server{
		Handler:           o.handler,
		ReadHeaderTimeout: o.readHeaderTimeout,
		IdleTimeout:       o.idleTimeout,
		MaxHeaderBytes:    o.maxHeaderBytes,
		TLSConfig:         o.tls,
		ErrorLog:          log,
	}
	if o.h2 {
		s.HTTP2 = &http.Server{Handler: o.handler, Protocols: h2Protocols(),
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}
	}
	return s
}

func h2Protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// reference is net/http's server configured like h1server. Its Shutdown
// closes every connection when ctx ends, as h1server's does (net/http's
// leaves them open).
type reference struct{ *http.Server }

func newReference(o options, log *slog.Logger) server {
	rht, idle := o.readHeaderTimeout, o.idleTimeout
	if rht == 0 {
		rht = 10 * time.Second
	}
	if idle == 0 {
		idle = 120 * time.Second
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	if o.h2 {
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
	}
	return reference{&http.Server{
		Handler: o.handler, ReadHeaderTimeout: rht, IdleTimeout: idle, MaxHeaderBytes: o.maxHeaderBytes,
		TLSConfig: o.tls, Protocols: p, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
	}}
}

func (r reference) Serve(ln net.Listener) error {
	if r.TLSConfig != nil {
		return r.ServeTLS(ln, "", "")
	}
	return r.Server.Serve(ln)
}

func (r reference) Shutdown(ctx context.Context) error {
	err := r.Server.Shutdown(ctx)
	if err != nil {
		_ = r.Server.Close()
	}
	return err
}

// running is a server serving on a loopback listener.
type running struct {
	addr string
	srv  server
	logs *weirtest.SyncBuffer
	done chan struct{} // closed when Serve returned
	err  error         // what Serve returned, once done is closed
}

// start serves on a new loopback listener until the test ends; the cleanup
// closes the server and checks Serve returned http.ErrServerClosed.
func start(t *testing.T, im impl, o options) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := new(weirtest.SyncBuffer)
	r := &running{addr: ln.Addr().String(), logs: logs, done: make(chan struct{}),
		srv: im.new(o, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}
	go func() {
		r.err = r.srv.Serve(ln)
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.srv.Close()
		_ = ln.Close()
		select {
		case <-r.done:
			if !errors.Is(r.err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want http.ErrServerClosed", r.err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return 10s after Close")
		}
	})
	return r
}

// served waits (bounded) for Serve to return and gives its error.
func (r *running) served(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s")
		return nil
	}
}

// knownBugs are subtests that fail against h1server for a reason
// reported to its author. They skip while they fail (see fatalf) and fail
// once they pass, so the entry gets removed.
var knownBugs = map[string]string{}

// markKnown makes a known bug's subtest fail once it passes.
func markKnown(t *testing.T) {
	if _, ok := knownBugs[t.Name()]; ok {
		t.Cleanup(func() {
			if !t.Skipped() && !t.Failed() {
				t.Errorf("passes now: drop %q from knownBugs", t.Name())
			}
		})
	}
}

// fatalf is t.Fatalf, or t.Skipf with the reason in a known bug's subtest.
func fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	if why, ok := knownBugs[t.Name()]; ok {
		t.Skipf("known bug (%s): "+format, append([]any{why}, args...)...)
	}
	t.Fatalf(format, args...)
}

// dial opens a raw connection closed at cleanup, with a 10s deadline so a
// hanging server fails the test instead of stalling it.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// req joins request-head lines with CRLF and ends the head.
func req(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// step writes bytes (in the background, after the previous step's bytes,
// so a server that answers before reading everything cannot block the
// test) and then reads read responses, 1xx ones included.
type step struct {
	write string
	read  int
}

// seen is what the harness compares of one response.
type seen struct {
	status  string // proto, code and reason
	header  http.Header
	close   bool // Connection: close (http.ReadResponse takes it out of header)
	te      []string
	body    []byte
	bodyErr string
	trailer http.Header
}

// exchange is what a client saw on one connection.
type exchange struct {
	resps []seen
	err   string // reading a response head failed
	after string // the connection afterwards: open, closed, hang, or what a probe request got
}

// exchangeTimeout bounds one raw exchange; only a hanging server reaches it.
const exchangeTimeout = 5 * time.Second

// probeReq is written after the last expected response to learn whether the
// server kept the connection and still parses it from the right place.
const probeReq = "GET /probe HTTP/1.1\r\nHost: probe\r\n\r\n"

// run plays steps on a new connection to addr; head says the responses
// answer HEAD requests.
func run(addr string, steps []step, head bool) exchange {
	conn, err := net.DialTimeout("tcp", addr, exchangeTimeout)
	if err != nil {
		return exchange{err: "dial: " + err.Error()}
	}
	_ = conn.SetDeadline(time.Now().Add(exchangeTimeout))
	written := make(chan struct{})
	close(written)
	write := func(b string) {
		prev, next := written, make(chan struct{})
		written = next
		go func() {
			defer close(next)
			<-prev
			_, _ = io.WriteString(conn, b)
		}()
	}
	defer func() {
		_ = conn.Close()
		<-written
	}()
	var method *http.Request
	if head {
		method = &http.Request{Method: http.MethodHead}
	}
	br := bufio.NewReader(conn)
	var x exchange
	for _, s := range steps {
		if s.write != "" {
			write(s.write)
		}
		for range s.read {
			resp, err := http.ReadResponse(br, method)
			if err != nil {
				x.err = classify(err, false)
				x.after = "closed"
				if x.err == "timeout" {
					x.after = "hang"
				}
				return x
			}
			x.resps = append(x.resps, summarize(resp))
		}
	}
	<-written // the probe goes after everything else
	_, _ = io.WriteString(conn, probeReq)
	resp, err := http.ReadResponse(br, nil)
	switch e := classify(err, false); {
	case e == "EOF" || e == "unexpected EOF":
		x.after = "closed"
	case e == "timeout":
		x.after = "hang"
	case e != "":
		x.after = "closed after garbage: " + e
	default:
		p := summarize(resp)
		switch x.after = "open"; {
		case resp.StatusCode != http.StatusOK:
			x.after = fmt.Sprintf("open, but the probe got %d", resp.StatusCode)
		case string(p.body) != "probe GET /probe" || p.bodyErr != "":
			x.after = fmt.Sprintf("open, but the probe got %d %q%s", resp.StatusCode, p.body, p.bodyErr)
		}
	}
	return x
}

func summarize(resp *http.Response) seen {
	body, err := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return seen{
		status: resp.Proto + " " + resp.Status, header: resp.Header, close: resp.Close, te: resp.TransferEncoding,
		body: body, bodyErr: classify(err, true), trailer: resp.Trailer,
	}
}

// classify names an error so that the two servers' errors compare: a
// reset counts as the end of the stream it cut.
func classify(err error, inBody bool) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		if inBody {
			return "unexpected EOF"
		}
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}

// render prints an exchange for comparison; statusOnly keeps what matters
// of answers the server writes itself (status code, connection handling),
// whose reasons and bodies are free text; anyFraming leaves out
// Content-Length and Transfer-Encoding.
func (x exchange) render(statusOnly, anyFraming bool) string {
	var b strings.Builder
	for _, r := range x.resps {
		if statusOnly {
			b.WriteString(strings.Join(strings.Fields(r.status)[:2], " ") + "\n")
		} else {
			b.WriteString(r.status + "\n")
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range r.header {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			if (!statusOnly || k == "Connection") && !(anyFraming && k == "Content-Length") {
				fmt.Fprintf(&b, "%s: %q\n", k, r.header[k])
			}
		}
		if r.close {
			b.WriteString("(connection: close)\n")
		}
		if len(r.te) > 0 && !anyFraming {
			fmt.Fprintf(&b, "(transfer-encoding %q)\n", r.te)
		}
		if !statusOnly {
			if len(r.body) <= 512 {
				fmt.Fprintf(&b, "body %q\n", r.body)
			} else {
				fmt.Fprintf(&b, "body %d bytes, sha256 %x\n", len(r.body), sha256.Sum256(r.body))
			}
			for _, k := range slices.Sorted(func(yield func(string) bool) {
				for k := range r.trailer {
					if !yield(k) {
						return
					}
				}
			}) {
				fmt.Fprintf(&b, "trailer %s: %q\n", k, r.trailer[k])
			}
		}
		if r.bodyErr != "" {
			fmt.Fprintf(&b, "body error: %s\n", r.bodyErr)
		}
	}
	if x.err != "" {
		fmt.Fprintf(&b, "reading a response: %s\n", x.err)
	}
	fmt.Fprintf(&b, "after: %s\n", x.after)
	return b.String()
}

// testHandler answers by the first path segment; see the cases.
func testHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		arg := func(i int) int {
			if i >= len(parts) {
				return 0
			}
			n, _ := strconv.Atoi(parts[i])
			return n
		}
		switch parts[0] {
		case "probe":
			fmt.Fprintf(w, "probe %s %s", r.Method, r.URL.Path)
		case "ignore": // never reads the body
			_, _ = io.WriteString(w, "ignored")
		case "status": // /status/CODE: a body is written, allowed or not
			w.WriteHeader(arg(1))
			_, _ = io.WriteString(w, "body")
		case "empty":
		case "flush":
			_, _ = io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "b")
		case "big": // /big/N: N bytes in writes of 1000
			for n := arg(1); n > 0; n -= 1000 {
				_, _ = w.Write(bytes.Repeat([]byte("x"), min(n, 1000)))
			}
		case "one": // /one/N: N bytes in one write, then a flushed write
			_, _ = w.Write(bytes.Repeat([]byte("o"), arg(1)))
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "end")
		case "cl": // /cl/VALUE/N: Content-Length VALUE, N bytes written
			w.Header().Set("Content-Length", parts[1])
			_, _ = w.Write(bytes.Repeat([]byte("y"), arg(2)))
		case "sniff":
			_, _ = io.WriteString(w, "<html><body>hi</body></html>")
		case "nosniff":
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, "<html><body>hi</body></html>")
		case "typed":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: 1\n\n")
		case "close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		case "trailer": // /trailer[/N]: N more bytes before the trailer is set
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "abc")
			_, _ = w.Write(bytes.Repeat([]byte("t"), arg(1)))
			w.Header().Set("X-Sum", "3")
		case "hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		case "late": // header changes after WriteHeader or Write are not sent
			if parts[len(parts)-1] == "status" {
				w.WriteHeader(http.StatusOK)
			} else {
				_, _ = io.WriteString(w, "written ")
			}
			w.Header().Set("X-Late", "1")
			w.Header().Set("Content-Type", "text/late")
			_, _ = io.WriteString(w, "late")
		case "partial": // /partial/N: reads N bytes of the body
			n, _ := io.ReadFull(r.Body, make([]byte, arg(1)))
			fmt.Fprintf(w, "read %d", n)
		case "closebody": // closes the body unread
			_ = r.Body.Close()
			_, _ = io.WriteString(w, "closed")
		case "bighdr": // /bighdr/N: a header value of N bytes
			w.Header().Set("X-Big", strings.Repeat("h", arg(1)))
			_, _ = io.WriteString(w, "big header")
		case "statuscl": // /statuscl/CODE: framing headers set, then the status
			w.Header().Set("Content-Length", "4")
			w.Header().Set("Content-Type", "text/x")
			w.WriteHeader(arg(1))
			_, _ = io.WriteString(w, "body")
		case "identity":
			w.Header().Set("Transfer-Encoding", "identity")
			_, _ = io.WriteString(w, "identity body")
		case "twice":
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "first status wins")
		case "setchunked":
			w.Header().Set("Transfer-Encoding", "chunked")
			_, _ = io.WriteString(w, "set by handler")
		case "inject":
			h := w.Header()
			h["X-Crlf"] = []string{"a\r\nSet-Cookie: evil=1"}
			h["X-Lf"] = []string{"b\nX-Evil: 1"}
			h["X-Cr"] = []string{"c\rX-Evil: 2"}
			h["X-Crlfcrlf"] = []string{"d\r\n\r\nHTTP/1.1 200 OK"}
			h["Bad Name"] = []string{"v"}
			h["X-Name\r\nSet-Cookie: evil"] = []string{"v"}
			h["X-Colon:"] = []string{"v"}
			h["X-Nul\x00"] = []string{"v"}
			h["X-Ok"] = []string{"fine"}
			_, _ = io.WriteString(w, "injected")
		case "injecttrailer":
			w.Header().Set("Trailer", "X-T")
			_, _ = io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			w.Header().Set("X-T", "v\r\n\r\nHTTP/1.1 200 OK")
		default:
			echo(w, r)
		}
	})
}

// echo reads the body and answers what the handler saw of the request.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "host": r.Host, "uri": r.RequestURI, "url": r.URL.String(),
		"proto": r.Proto, "content_length": r.ContentLength, "transfer_encoding": r.TransferEncoding,
		"close": r.Close, "header": r.Header, "trailer": r.Trailer, "body": string(body),
		"body_error": errText, "remote_addr": r.RemoteAddr != "", "tls": r.TLS != nil,
		"server_key":    r.Context().Value(http.ServerContextKey) != nil,
		"local_address": localAddr(r) == "127.0.0.1",
	})
}

// localAddr is the host of the address the request came in on, from the
// request's context as net/http puts it there.
func localAddr(r *http.Request) string {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	host, _, _ := net.SplitHostPort(a.String())
	return host
}
