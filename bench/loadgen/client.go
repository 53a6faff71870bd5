package loadgen

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// Protocols NewClient speaks.
const (
	HTTP1 = "h1"  // HTTP/1.1, one request per connection at a time
	H2C   = "h2c" // HTTP/2 without TLS (prior knowledge)
	H2    = "h2"  // HTTP/2 over TLS
	H3    = "h3"  // HTTP/3 over QUIC
)

// NewClient returns a client for proto that keeps up to conns connections
// alive and accepts any server certificate (benchmarks run against
// self-signed loopback servers). Close the returned closer when done.
func NewClient(proto string, conns int) (*http.Client, io.Closer, error) {
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback benchmark targets use self-signed certificates
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	base := func() *http.Transport {
		return &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     0,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			TLSClientConfig:     insecure,
		}
	}
	switch proto {
	case HTTP1, "":
		tr := base()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
		return &http.Client{Transport: tr}, closerFunc(tr.CloseIdleConnections), nil
	case H2C:
		tr := base()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
		return &http.Client{Transport: tr}, closerFunc(tr.CloseIdleConnections), nil
	case H2:
		tr := base()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP2(true)
		return &http.Client{Transport: tr}, closerFunc(tr.CloseIdleConnections), nil
	case H3:
		tr := &http3.Transport{TLSClientConfig: insecure}
		return &http.Client{Transport: tr}, tr, nil
	}
	return nil, nil, fmt.Errorf("loadgen: unknown protocol %q (want h1, h2c, h2 or h3)", proto)
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }
