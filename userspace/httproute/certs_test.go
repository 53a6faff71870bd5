package httproute

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
)

// selfSigned makes a certificate for names.
func selfSigned(t *testing.T, names ...string) *tls.Certificate {
	t.Helper()
	return &httproutetest.Cert(t, names...).TLS
}

func TestCertStore(t *testing.T) {
	shop := selfSigned(t, "shop.example.com")
	wild := selfSigned(t, "*.example.com")
	eu := selfSigned(t, "*.eu.example.com")
	dup := selfSigned(t, "shop.example.com")
	s := NewCertStore([]Certificate{
		{Hosts: []string{"shop.example.com"}, Cert: shop},
		{Hosts: []string{"*.example.com"}, Cert: wild},
		{Hosts: []string{"*.eu.example.com", ""}, Cert: eu},
		{Hosts: []string{"SHOP.example.com."}, Cert: dup}, // the first one stays
		{Hosts: []string{"nil.example.com"}},
	})
	if s.Len() != 3 {
		t.Errorf("Len %d, want 3", s.Len())
	}
	for name, want := range map[string]*tls.Certificate{
		"shop.example.com": shop, "Shop.Example.com.": shop, "www.example.com": wild, "a.b.example.com": wild,
		"x.eu.example.com": eu, "example.com": nil, "other.test": nil, "": nil, "nil.example.com": wild,
	} {
		got, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil || got != want {
			t.Errorf("%q: got %p, want %p (%v)", name, got, want, err)
		}
	}
	var none *CertStore
	if c, err := none.GetCertificate(&tls.ClientHelloInfo{ServerName: "x"}); c != nil || err != nil {
		t.Error("a nil store must answer nothing")
	}
}

// TestCertStoreHandshake serves two names from one listener and checks
// each client gets its own certificate, and a name without one gets the
// listener's default.
func TestCertStoreHandshake(t *testing.T) {
	def := selfSigned(t, "default.test")
	s := NewCertStore([]Certificate{
		{Hosts: []string{"a.test"}, Cert: selfSigned(t, "a.test")},
		{Hosts: []string{"*.b.test"}, Cert: selfSigned(t, "*.b.test")},
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*def}, GetCertificate: s.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
			}(c)
		}
	}()
	for name, want := range map[string]string{"a.test": "a.test", "x.b.test": "*.b.test", "c.test": "default.test"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // the test reads the certificate it was given
		if err != nil {
			t.Fatal(err)
		}
		got := c.ConnectionState().PeerCertificates[0].DNSNames[0]
		c.Close()
		if got != want {
			t.Errorf("SNI %s: served %s, want %s", name, got, want)
		}
	}
}
