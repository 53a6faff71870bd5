package httproute

import (
	"crypto/tls"
	"strings"
)

// Certificate is a TLS certificate for some host names (from an Ingress's
// spec.tls and its Secret).
type Certificate struct {
	// Hosts are exact names or "*.example.com" wildcards.
	Hosts []string
	Cert  *tls.Certificate
}

// CertStore picks a certificate by SNI, as nginx picks a server block: an
// exact name first, then the longest wildcard. Build it with NewCertStore;
// it is immutable and safe for concurrent use.
type CertStore struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // by suffix, ".example.com"
}

// NewCertStore indexes certs; for a name given twice the first wins (the
// provider lists the oldest Ingress first, as ingress-nginx).
func NewCertStore(certs []Certificate) *CertStore {
	s := &CertStore{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	for _, c := range certs {
		if c.Cert == nil {
			continue
		}
		for _, h := range c.Hosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			m, key := s.exact, h
			if suffix, ok := strings.CutPrefix(h, "*"); ok && strings.HasPrefix(suffix, ".") {
				m, key = s.wildcard, suffix
			}
			if _, taken := m[key]; !taken && key != "" {
				m[key] = c.Cert
			}
		}
	}
	return s
}

// GetCertificate is for tls.Config.GetCertificate. It returns nil and no
// error when no certificate matches, so that crypto/tls falls back to
// tls.Config.Certificates (the listener's own certificate).
func (s *CertStore) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s == nil || hello == nil {
		return nil, nil
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if c, ok := s.exact[name]; ok {
		return c, nil
	}
	if c, ok := longestWildcard(s.wildcard, name); ok {
		return c, nil
	}
	return nil, nil
}

// Len is the number of names (exact and wildcard) the store answers for.
func (s *CertStore) Len() int {
	if s == nil {
		return 0
	}
	return len(s.exact) + len(s.wildcard)
}
