// Package httproutetest makes throw-away certificate authorities and
// certificates for tests of TLS (upstreams with mutual TLS and chain
// depth, listeners choosing Ingress certificates by SNI), so no key is ever
// committed. It is for tests only.
package httproutetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

var serial atomic.Int64

// CA is a certificate authority: a self-signed root, or an intermediate
// signed by its parent.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// chain are the CA certificates above a leaf it signs, up to (not
	// including) the root: what a server sends after its own certificate.
	chain []*x509.Certificate
}

// NewCA makes a root CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, tmpl := newKey(t), caTemplate(name)
	return &CA{Cert: create(t, tmpl, tmpl, key, key), key: key}
}

// Intermediate makes a CA named name signed by ca.
func (ca *CA) Intermediate(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	c := create(t, caTemplate(name), ca.Cert, key, ca.key)
	return &CA{Cert: c, key: key, chain: append([]*x509.Certificate{c}, ca.chain...)}
}

// PEM is the CA's certificate in PEM, as a Secret's ca.crt holds it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Leaf is an end-entity certificate with its key.
type Leaf struct {
	// TLS is the certificate, the CA chain above it (without the root)
	// and the key, for tls.Config.Certificates.
	TLS tls.Certificate
	// CertPEM (with the chain) and KeyPEM are what a Secret's tls.crt and
	// tls.key hold.
	CertPEM, KeyPEM []byte
}

// Issue makes a certificate for names (host names, or IP addresses such
// as 127.0.0.1), usable by servers and clients.
func (ca *CA) Issue(t testing.TB, names ...string) *Leaf {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	c := create(t, tmpl, ca.Cert, key, ca.key)
	l := &Leaf{TLS: tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}}
	l.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	for _, ic := range ca.chain {
		l.TLS.Certificate = append(l.TLS.Certificate, ic.Raw)
		l.CertPEM = append(l.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ic.Raw})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return l
}

// Cert is a certificate for names from a CA of its own, for tests that
// need a certificate and no chain to check (SNI, TLS Secrets).
func Cert(t testing.TB, names ...string) *Leaf {
	t.Helper()
	return NewCA(t, names[0]+" CA").Issue(t, names...)
}

// Pool is a cert pool holding the CAs, for tls.Config.ClientCAs.
func Pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

func caTemplate(name string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func create(t testing.TB, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
