package httproute

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
)

// upstreamTLSConfig builds the client side of TLS to an upstream: the CA
// that verifies it (else the system roots), the client certificate, the
// versions and cipher suites, and the chain depth. Files are read here,
// once per Table, so a renewed certificate takes effect at the next
// config swap.
func upstreamTLSConfig(t config.RouteUpstreamTLS) (*tls.Config, error) {
	c := &tls.Config{
		// nginx's proxy_ssl_verify default is off; routes opt in.
		InsecureSkipVerify: !t.Verify, //nolint:gosec // see above
		ServerName:         t.ServerName,
		MinVersion:         tls.VersionTLS12,
	}
	if v := config.TLSVersion(t.MinVersion); v != 0 {
		c.MinVersion = v
	}
	if v := config.TLSVersion(t.MaxVersion); v != 0 {
		c.MaxVersion = v
	}
	for _, name := range t.CipherSuites {
		id, ok := config.CipherSuiteID(name)
		if !ok {
			return nil, fmt.Errorf("cipher suite %q is not one Go offers", name)
		}
		c.CipherSuites = append(c.CipherSuites, id)
	}
	ca := []byte(t.CAPEM)
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		ca = b
	}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("ca: no PEM certificate found")
		}
		c.RootCAs = pool
	}
	certPEM, keyPEM := []byte(t.CertPEM), []byte(t.KeyPEM.Value())
	if t.CertFile != "" {
		b, err := os.ReadFile(t.CertFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		certPEM = b
	}
	if t.KeyFile != "" {
		b, err := os.ReadFile(t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		keyPEM = b
	}
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		// crypto/tls's errors name no key material.
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if t.Verify && t.VerifyDepth > 0 {
		c.VerifyConnection = verifyDepth(t.VerifyDepth)
	}
	return c, nil
}

// verifyDepth enforces nginx's proxy_ssl_verify_depth as OpenSSL counts
// it: at most depth intermediate CA certificates between the upstream's
// certificate and the trusted CA, which count neither. crypto/tls has
// already verified the chains when it calls this; one short enough is
// enough.
func verifyDepth(depth int) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		fewest := -1
		for _, ch := range cs.VerifiedChains {
			if n := max(len(ch)-2, 0); fewest < 0 || n < fewest {
				fewest = n
			}
		}
		switch {
		case fewest < 0:
			return errors.New("upstream certificate: no verified chain to check the depth of")
		case fewest > depth:
			return fmt.Errorf("upstream certificate chain has %d intermediate CA certificates, more than verify_depth %d", fewest, depth)
		}
		return nil
	}
}

// sendTimeoutDialer wraps each dialed connection so that every write to
// the upstream must finish within d (nginx's proxy_send_timeout: the time
// between two successive writes). TLS runs over the wrapped connection,
// so the bound holds for https and h2 too.
func sendTimeoutDialer(dial func(context.Context, string, string) (net.Conn, error), d time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &sendTimeoutConn{Conn: c, d: d}, nil
	}
}

// sendTimeoutConn sets a write deadline before each Write.
type sendTimeoutConn struct {
	net.Conn
	d time.Duration
}

func (c *sendTimeoutConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.d)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
