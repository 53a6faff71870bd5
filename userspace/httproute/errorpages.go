package httproute

import (
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/weir-gateway/weir/userspace/config"
)

// errorPages answers some statuses from an error backend.
type errorPages struct {
	codes []int
	pool  *pool
	route string
}

func newErrorPages(e config.RouteErrorPages, route, path string, rnd *lockedRand) (*errorPages, error) {
	p, err := newPool(e.Upstream, path, rnd)
	if err != nil {
		return nil, err
	}
	return &errorPages{codes: e.Codes, pool: p, route: route}, nil
}

func (e *errorPages) handles(code int) bool { return e != nil && slices.Contains(e.codes, code) }

// fetch asks the error backend for the page of code for the client
// request in (its URI, its Accept).
func (e *errorPages) fetch(in *http.Request, code int) (*http.Response, error) {
	a := e.pool.start(in)
	u := *in.URL
	u.Scheme, u.Host = e.pool.scheme, e.pool.servers[a.first].addr
	req, err := http.NewRequestWithContext(in.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Host = in.Host
	req.Header.Set("X-Code", strconv.Itoa(code))
	req.Header.Set("X-Format", in.Header.Get("Accept"))
	req.Header.Set("X-Original-URI", in.URL.RequestURI())
	req.Header.Set("X-Route", e.route)
	return e.pool.transport.RoundTrip(req)
}

// replace swaps resp's status, headers and body for the error page; on
// failure resp is left as the upstream sent it.
func (e *errorPages) replace(in *http.Request, resp *http.Response) {
	page, err := e.fetch(in, resp.StatusCode)
	if err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.StatusCode, resp.Status = page.StatusCode, page.Status
	resp.Header, resp.Body, resp.ContentLength = page.Header, page.Body, page.ContentLength
	resp.Trailer = page.Trailer
}

// serve writes the error page of code to w, and reports whether it could.
func (e *errorPages) serve(w http.ResponseWriter, in *http.Request, code int) bool {
	page, err := e.fetch(in, code)
	if err != nil {
		return false
	}
	defer page.Body.Close()
	for k, vs := range page.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(page.StatusCode)
	io.Copy(w, page.Body)
	return true
}
