// Package server runs weir's client listeners: HTTP/1.1 and h2c on plain
// ports, HTTP/1.1 and HTTP/2 over TLS (certificate files or a self-signed
// certificate made at start).
package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/h1server"
)

// Server is the set of running client listeners.
type Server struct {
	log       *slog.Logger
	listeners []*listener
	wg        sync.WaitGroup
	// certs, when set, picks a certificate by SNI before the listener's own.
	certs atomic.Pointer[func(*tls.ClientHelloInfo) (*tls.Certificate, error)]
}

// SetCertificates installs f to choose a TLS certificate by SNI on every
// TLS listener (HTTP/1.1, HTTP/2 and HTTP/3); when f returns no certificate
// the listener's own (files or self-signed) is used.
func (s *Server) SetCertificates(f func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	s.certs.Store(&f)
}

func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if f := s.certs.Load(); f != nil && *f != nil {
		return (*f)(hello)
	}
	return nil, nil
}

type listener struct {
	name string
	ln   net.Listener
	srv  *h1server.Server
	tls  bool
	h3   *http3Listener
}

// ListenerHandler is a handler that serves each listener its own way (e.g.
// only the API or only the plain routes, listeners[].serve): Start asks it
// for each listener's handler instead of serving it everywhere.
type ListenerHandler interface {
	http.Handler
	ForListener(l config.Listener) http.Handler
}

// Start binds every listener and serves handler on it (a ListenerHandler's
// handler for that listener). Binding happens before Start returns, so a
// port conflict is reported at once.
func Start(ls []config.Listener, sc config.Server, all http.Handler, log *slog.Logger) (*Server, error) {
	s := &Server{log: log}
	for i, l := range ls {
		handler := all
		if lh, ok := all.(ListenerHandler); ok {
			handler = lh.ForListener(l)
		}
		ln, err := listenTCP(l)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listeners[%d] %s: listen %s: %w", i, l.Name, l.Address, err)
		}
		// HTTP/1.1 is weir's own server (userspace/h1server); HTTP/2 (h2c
		// prior knowledge, or "h2" over TLS) is handed to net/http's.
		h2 := &http.Server{
			Handler:           presized(handler),
			ReadHeaderTimeout: sc.ReadHeaderTimeout.D(),
			IdleTimeout:       sc.IdleTimeout.D(),
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			Protocols:         new(http.Protocols),
		}
		srv := &h1server.Server{
			Handler:           handler,
			ReadHeaderTimeout: sc.ReadHeaderTimeout.D(),
			IdleTimeout:       sc.IdleTimeout.D(),
			HTTP2:             h2,
			ErrorLog:          log,
		}
		entry := &listener{name: l.Name, ln: ln, srv: srv}
		if l.TLS != nil {
			tc, err := tlsConfig(l, s.getCertificate)
			if err != nil {
				_ = ln.Close()
				s.close()
				return nil, fmt.Errorf("listeners[%d] %s: %w", i, l.Name, err)
			}
			h2.Protocols.SetHTTP2(true)
			h2.TLSConfig = tc
			srv.TLSConfig = tc
			entry.tls = true
			if l.HTTP3 {
				entry.h3, err = listenHTTP3(l, ln.Addr().(*net.TCPAddr).Port, tc, sc, presized(handler), log)
				if err != nil {
					_ = ln.Close()
					s.close()
					return nil, fmt.Errorf("listeners[%d] %s: %w", i, l.Name, err)
				}
				srv.Handler = entry.h3.altSvc(handler)
				h2.Handler = presized(srv.Handler)
			}
		} else {
			h2.Protocols.SetUnencryptedHTTP2(true)
		}
		s.listeners = append(s.listeners, entry)
	}
	for _, l := range s.listeners {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := l.srv.Serve(l.ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener stopped", "listener", l.name, "err", err)
			}
		}()
		s.log.Info("listening", "listener", l.name, "address", l.ln.Addr().String(), "tls", l.tls)
		if l.h3 != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				l.h3.serve(s.log, l.name)
			}()
			s.log.Info("listening http3", "listener", l.name, "address", l.h3.conn.LocalAddr().String())
		}
	}
	return s, nil
}

// Addr returns the bound address of the named listener (useful with ":0").
func (s *Server) Addr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.name == name {
			return l.ln.Addr()
		}
	}
	return nil
}

// Shutdown stops accepting, then waits for in-flight requests and streams
// until ctx ends; whatever is left then is closed.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.h3 != nil {
				if err := l.h3.srv.Shutdown(ctx); err != nil {
					_ = l.h3.srv.Close()
				}
				_ = l.h3.conn.Close()
			}
			if err := l.srv.Shutdown(ctx); err != nil {
				_ = l.srv.Close()
				mu.Lock()
				errs = append(errs, fmt.Errorf("shutdown %s: %w", l.name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) close() {
	for _, l := range s.listeners {
		_ = l.ln.Close()
		if l.h3 != nil {
			_ = l.h3.conn.Close()
		}
	}
}

// HTTP3Addr returns the UDP address of the named listener's HTTP/3 socket, or nil.
func (s *Server) HTTP3Addr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.name == name && l.h3 != nil {
			return l.h3.conn.LocalAddr()
		}
	}
	return nil
}

func tlsConfig(l config.Listener, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if l.TLS.SelfSigned {
		cert, err = SelfSigned(l.Address)
	} else {
		cert, err = tls.LoadX509KeyPair(l.TLS.CertFile, l.TLS.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		Certificates:   []tls.Certificate{cert},
		GetCertificate: getCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}, nil
}

// SelfSigned makes an ECDSA P-256 certificate valid for a year for
// localhost, the loopback addresses, the host name and the listen host.
func SelfSigned(address string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"weir self-signed"}, CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	if host, _, err := net.SplitHostPort(address); err == nil && host != "" {
		if ip := net.ParseIP(host); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
