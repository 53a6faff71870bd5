package httproute

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
)

const defaultAuthTimeout = 5 * time.Second

// authCheck is a route's external authentication (nginx auth-url).
type authCheck struct {
	cfg     config.RouteAuth
	method  string
	timeout time.Duration
	client  *http.Client
}

func newAuth(a config.RouteAuth) *authCheck {
	return &authCheck{
		cfg:     a,
		method:  cmp.Or(a.Method, http.MethodGet),
		timeout: cmp.Or(a.Timeout.D(), defaultAuthTimeout),
		client: &http.Client{
			// The auth service's redirects are answers, not hops to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 60 * time.Second},
		},
	}
}

func (a *authCheck) close() { a.client.CloseIdleConnections() }

// authHopHeaders are not forwarded to the auth service: the subrequest has
// no body and its own connection.
var authHopHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Keep-Alive", "Te", "Trailer", "Expect"}

// check asks the auth service about r. It returns true to proxy r (with
// the copied headers set on it); otherwise it has answered w.
func (a *authCheck) check(w http.ResponseWriter, r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, a.method, expandAuthURL(a.cfg.URL, r), nil)
	if err != nil {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return false
	}
	req.Header = r.Header.Clone()
	for _, h := range authHopHeaders {
		req.Header.Del(h)
	}
	original := scheme(r) + "://" + r.Host + r.URL.RequestURI()
	// The headers ingress-nginx sets on its auth subrequest; oauth2-proxy
	// reads X-Auth-Request-Redirect to return the user after sign-in.
	req.Header.Set("X-Original-URL", original)
	req.Header.Set("X-Original-Method", r.Method)
	if a.cfg.RequestRedirect != "" {
		req.Header.Set("X-Auth-Request-Redirect", expandAuthURL(a.cfg.RequestRedirect, r))
	} else {
		req.Header.Set("X-Auth-Request-Redirect", r.URL.RequestURI())
	}
	req.Header.Set("X-Sent-From", "weir")
	if ip, ok := clientAddr(r); ok {
		req.Header.Set("X-Real-IP", ip.String())
		req.Header.Set("X-Forwarded-For", ip.String())
	}
	resp, err := a.client.Do(req)
	if err != nil {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		for _, h := range a.cfg.ResponseHeaders {
			if vs := resp.Header.Values(h); len(vs) > 0 {
				r.Header[http.CanonicalHeaderKey(h)] = vs
			} else {
				// A client must not be able to supply what the auth service vouches for.
				r.Header.Del(h)
			}
		}
		return true
	case resp.StatusCode == http.StatusUnauthorized && a.cfg.SignIn != "":
		http.Redirect(w, r, signInURL(expandAuthURL(a.cfg.SignIn, r), original), http.StatusFound)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if v := resp.Header.Get("WWW-Authenticate"); v != "" {
			w.Header().Set("WWW-Authenticate", v)
		}
		http.Error(w, http.StatusText(resp.StatusCode), resp.StatusCode)
	default:
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
	}
	return false
}

// signInURL adds rd=<original URL> unless the sign-in URL carries rd already.
func signInURL(signIn, original string) string {
	if strings.Contains(signIn, "rd=") {
		return signIn
	}
	sep := "?"
	if strings.Contains(signIn, "?") {
		sep = "&"
	}
	return signIn + sep + "rd=" + url.QueryEscape(original)
}

// expandAuthURL replaces the nginx variables auth-url and auth-signin use.
func expandAuthURL(s string, r *http.Request) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return strings.NewReplacer(
		"$escaped_request_uri", url.QueryEscape(r.URL.RequestURI()),
		"$request_uri", r.URL.RequestURI(),
		"$scheme", scheme(r),
		"$host", requestHost(r),
	).Replace(s)
}
