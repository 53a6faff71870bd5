package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/weir-gateway/weir/userspace/config"
)

// udpBufferSize is what weir asks for on its QUIC socket: quic-go's
// recommendation for high-bandwidth connections.
const udpBufferSize = 7 << 20

// http3Listener serves HTTP/3 on the UDP port of a TLS listener: one
// http3.Server over one QUIC transport per worker socket.
type http3Listener struct {
	srv *http3.Server
	// conn holds the worker sockets; server.go uses its LocalAddr and Close.
	conn *quicSockets
	// draining is set when Shutdown begins: new handshakes are refused.
	draining atomic.Bool
}

// QUICConfig is weir's QUIC configuration. 0-RTT is off: early data can be
// replayed by an attacker, and a replayed POST to an LLM API spends the
// tenant's tokens twice; the round trip it saves matters little next to a
// model's time to first token. Keep-alives keep long, quiet streams (a slow
// first token) from hitting the idle timeout or a NAT binding expiry.
func QUICConfig(sc config.Server) *quic.Config {
	idle := sc.IdleTimeout.D()
	if idle <= 0 {
		idle = 2 * time.Minute
	}
	return &quic.Config{
		Allow0RTT:             false,
		MaxIdleTimeout:        idle,
		KeepAlivePeriod:       15 * time.Second,
		MaxIncomingStreams:    1000,
		MaxIncomingUniStreams: 100,
		HandshakeIdleTimeout:  10 * time.Second,
	}
}

// listenHTTP3 binds the QUIC worker sockets of listener l on UDP port
// tcpPort of its host (WEIR_QUIC_WORKERS of them, default GOMAXPROCS, steered
// by CID when the kernel program loads, else one) and starts one QUIC
// listener per socket; serve then runs the HTTP/3 server on them.
func listenHTTP3(l config.Listener, tcpPort int, tc *tls.Config, sc config.Server, handler http.Handler, log *slog.Logger) (*http3Listener, error) {
	host, _, err := net.SplitHostPort(l.Address)
	if err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, strconv.Itoa(tcpPort)))
	if err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	workers, err := quicWorkers(l.HTTP3Workers)
	if err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	socks, err := listenQUIC(l.Name, addr, workers, log)
	if err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	raiseUDPBuffers(socks.socks, log, l.Name)
	h3 := &http3Listener{conn: socks}
	h3tls := http3.ConfigureTLSConfig(tc.Clone())
	qc := QUICConfig(sc)
	qc.GetConfigForClient = func(*quic.ClientInfo) (*quic.Config, error) {
		if h3.draining.Load() {
			return nil, errDraining
		}
		return qc, nil
	}
	if err := socks.listen(h3tls, qc); err != nil {
		_ = socks.Close()
		return nil, fmt.Errorf("http3: %w", err)
	}
	h3.srv = &http3.Server{
		Handler:     handler,
		TLSConfig:   h3tls,
		QUICConfig:  qc,
		IdleTimeout: sc.IdleTimeout.D(),
		Port:        tcpPort,
		Logger:      log,
	}
	log.Info("http3 workers", "listener", l.Name, "workers", socks.Workers(), "steered", socks.Steered(), "generation", socks.gen)
	return h3, nil
}

// errDraining refuses a handshake while the listener drains.
var errDraining = errors.New("http3: draining")

// serve serves every worker's QUIC listener until the server shuts down.
// When Shutdown begins, ServeListener returns and new handshakes are
// refused from then on (CONNECTION_REFUSED, so a client retries elsewhere
// or over TCP) instead of completing into an accept queue nobody reads, or
// being dropped silently as a closed listener would; established
// connections finish their streams.
func (h *http3Listener) serve(log *slog.Logger, name string) {
	var wg sync.WaitGroup
	for i, ln := range h.conn.listeners {
		wg.Go(func() {
			err := h.srv.ServeListener(ln)
			h.draining.Store(true)
			if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, quic.ErrServerClosed) {
				log.Error("http3 listener stopped", "listener", name, "slot", i, "err", err)
			}
		})
	}
	wg.Wait()
}

// altSvc advertises HTTP/3 on HTTP/1.1 and HTTP/2 responses.
func (h *http3Listener) altSvc(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.srv.SetQUICHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

// raiseUDPBuffers asks for large socket buffers and logs once per listener
// when the kernel caps them (net.core.rmem_max / wmem_max), since small
// buffers drop QUIC packets under load.
func raiseUDPBuffers(socks []*slotConn, log *slog.Logger, name string) {
	for _, c := range socks {
		_ = c.SetReadBuffer(udpBufferSize)
		_ = c.SetWriteBuffer(udpBufferSize)
	}
	rc, err := socks[0].SyscallConn()
	if err != nil {
		return
	}
	var rcv, snd int
	_ = rc.Control(func(fd uintptr) {
		rcv, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	// The kernel reports twice the granted size.
	if rcv/2 < udpBufferSize || snd/2 < udpBufferSize {
		log.Warn("QUIC UDP buffers are smaller than requested; raise net.core.rmem_max and net.core.wmem_max (or grant CAP_NET_ADMIN) for high-throughput HTTP/3",
			"listener", name, "requested_bytes", udpBufferSize, "receive_bytes", rcv/2, "send_bytes", snd/2)
	}
}
