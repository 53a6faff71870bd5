// Package h1server is weir's HTTP/1.1 server for its client listeners.
//
// net/http's server gives every connection a 4 KiB read buffer and a 4 KiB
// write buffer, every request a 2 KiB response buffer, a copy of the
// response header and a second goroutine that reads ahead to notice a
// client that goes away, and keeps all of it for as long as a request
// runs. A gateway holding thousands of slow model streams pays that on
// every stream. Server here parses requests with net/http's own
// http.ReadRequest (so framing and smuggling rules are the standard
// library's) and calls the same http.Handler, but:
//
//   - a connection holds its read buffer only while bytes are pending: a
//     stream whose request body has been read, and an idle keep-alive
//     connection, hold none;
//   - response bytes are gathered in a pooled buffer that goes back to the
//     pool at every flush, so an idle stream holds no write buffer either;
//   - a client that hangs up is noticed by one epoll set for the whole
//     process (EPOLLRDHUP), not by a goroutine per request.
//
// HTTP/2 is not spoken here: connections that open with the h2c preface,
// and TLS connections that negotiate "h2", are handed to a net/http server.
package h1server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weir-gateway/weir/userspace/sockio"
)

// Server serves HTTP/1.1 on the listeners given to Serve. Its exported
// fields must be set before the first Serve and not changed afterwards.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// ReadHeaderTimeout bounds the time from a request's first byte (or
	// the connection's start) to the end of its headers; 0 means 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for this long; 0 means 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; 0 means
	// http.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// TLSConfig, when set, makes every accepted connection a TLS server
	// connection; those that negotiate "h2" go to HTTP2.
	TLSConfig *tls.Config
	// HTTP2 serves connections that open with the h2c preface (cleartext)
	// or negotiate "h2" (TLS); nil offers no HTTP/2. Its Protocols must
	// allow what it is handed.
	HTTP2 *http.Server
	// ErrorLog receives handler panics and connection errors; nil means
	// slog.Default().
	ErrorLog *slog.Logger

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool

	h2once sync.Once
	h2ln   *handoffListener
	h2wg   sync.WaitGroup
}

const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	// maxPostHandlerReadBytes is how much of an unread request body is
	// read and thrown away to keep a connection, as net/http does.
	maxPostHandlerReadBytes = 256 << 10
)

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return defaultReadHeaderTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return defaultIdleTimeout
}

func (s *Server) maxHeaderBytes() int64 {
	if s.MaxHeaderBytes > 0 {
		return int64(s.MaxHeaderBytes)
	}
	return http.DefaultMaxHeaderBytes
}

// anonymous is the *http.Server that requests' contexts carry under
// http.ServerContextKey when no HTTP2 server is set: code such as
// httputil.ReverseProxy looks there to know a server recovers its
// http.ErrAbortHandler panics.
var anonymous = &http.Server{}

func (s *Server) contextServer() *http.Server {
	if s.HTTP2 != nil {
		return s.HTTP2
	}
	return anonymous
}

func (s *Server) log() *slog.Logger {
	if s.ErrorLog != nil {
		return s.ErrorLog
	}
	return slog.Default()
}

// Serve accepts connections on ln and serves each on its own goroutine.
// It returns http.ErrServerClosed once Shutdown or Close was called, or
// the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(&ln, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	var backoff time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if temporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("http: accept error; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		rw = sockio.Wrap(rw)
		if s.TLSConfig != nil {
			rw = tls.Server(rw, s.TLSConfig)
		}
		c := newConn(s, rw)
		if !s.trackConn(c, true) {
			_ = rw.Close()
			continue
		}
		go c.serve()
	}
}

func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	return track(s, &s.listeners, ln, add)
}

func (s *Server) trackConn(c *conn, add bool) bool { return track(s, &s.conns, c, add) }

// track adds k to (or removes it from) one of s's sets; an add fails once
// the server is closing.
func track[K comparable](s *Server, set *map[K]struct{}, k K, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(*set, k)
		return true
	}
	if s.closing.Load() {
		return false
	}
	if *set == nil {
		*set = make(map[K]struct{})
	}
	(*set)[k] = struct{}{}
	return true
}

// startClosing marks the server closing and closes its listeners (once).
func (s *Server) startClosing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return nil
	}
	var errs []error
	for ln := range s.listeners {
		if err := (*ln).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.h2ln != nil {
		s.h2ln.close()
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in flight (streams included) to finish, closing each
// connection once its request is answered. When ctx ends first, every
// connection left is closed and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	lnErr := s.startClosing()
	h2err := make(chan error, 1)
	if s.HTTP2 != nil && s.h2started() {
		go func() { h2err <- s.HTTP2.Shutdown(ctx) }()
	} else {
		h2err <- nil
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			<-h2err
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err := <-h2err; err != nil {
		return err
	}
	s.h2wg.Wait()
	return lnErr
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	err := s.startClosing()
	s.closeAll()
	if s.HTTP2 != nil && s.h2started() {
		_ = s.HTTP2.Close()
	}
	return err
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle()
	}
	return len(s.conns) == 0
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.rwc.Close()
	}
}

// handoff gives c to the HTTP/2 server, starting it on first use.
func (s *Server) handoff(c net.Conn) {
	s.h2once.Do(func() {
		ln := newHandoffListener()
		s.mu.Lock()
		s.h2ln = ln
		if s.closing.Load() {
			ln.close()
		}
		s.mu.Unlock()
		s.h2wg.Add(1)
		go func() {
			defer s.h2wg.Done()
			if err := s.HTTP2.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.log().Error("http2 server stopped", "err", err)
			}
		}()
	})
	if !s.h2ln.push(c) {
		_ = c.Close()
	}
}

func (s *Server) h2started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h2ln != nil
}

// handoffListener is a net.Listener whose connections are pushed to it.
type handoffListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) close() { l.closed.Do(func() { close(l.done) }) }

func (l *handoffListener) Close() error { l.close(); return nil }

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
