package h1server

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/weir-gateway/weir/userspace/h1parse"
)

// readPlainRequest parses the request head waiting in br's buffer and
// returns what http.ReadRequest returns for it, with its Host fields
// counted and the first one's value (as readRequest reports them), or
// nil, consuming nothing, when the head is not plain: all of it buffered
// and at most max bytes, "METHOD /path HTTP/1.1" with a common method,
// fields h1parse.Fields reads, at most one Host and Content-Length, and no
// Transfer-Encoding, Trailer or Pragma. Those cover an API client's
// request in a few allocations (the head string, the header map and its
// values, the URL, the request, its body) where http.ReadRequest makes
// one or more per field; everything else is http.ReadRequest's.
func readPlainRequest(br *bufio.Reader, max int64) (req *http.Request, hosts int, host string) {
	buf, _ := br.Peek(br.Buffered())
	head, ok := h1parse.Head(buf)
	if !ok || int64(len(head)) > max {
		return nil, 0, ""
	}
	all := string(head)
	nl := strings.IndexByte(all, '\n')
	method, rest, ok1 := strings.Cut(all[:nl-1], " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !plainMethod(method) || !strings.HasPrefix(uri, "/") {
		return nil, 0, ""
	}
	h, ok := h1parse.Fields(all[nl+1:])
	if !ok {
		return nil, 0, ""
	}
	for _, k := range [...]string{"Transfer-Encoding", "Trailer", "Pragma"} {
		if _, ok := h[k]; ok {
			return nil, 0, ""
		}
	}
	hostv := h["Host"]
	length := int64(0)
	switch cl := h["Content-Length"]; {
	case len(hostv) > 1 || len(cl) > 1:
		return nil, 0, ""
	case len(cl) == 1:
		if length = h1parse.Length(cl[0]); length < 0 {
			return nil, 0, ""
		}
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, 0, ""
	}
	delete(h, "Host") // as http.ReadRequest does: the first is req.Host
	_, _ = br.Discard(len(head) + 2)
	req = &http.Request{
		Method: method, URL: u, Proto: proto, ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: http.NoBody, ContentLength: length, Host: u.Host, RequestURI: uri,
		Close: httpguts.HeaderValuesContainsToken(h["Connection"], "close"),
	}
	if length > 0 {
		req.Body = h1parse.NewBody(br, length)
	}
	if len(hostv) == 1 {
		host = hostv[0]
		if req.Host == "" {
			req.Host = host
		}
	}
	return req, len(hostv), host
}

func plainMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}
