package h1client

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/weir-gateway/weir/userspace/h1parse"
)

// maxPlainHeaders is how many header fields writeRequest sorts on the
// stack; a request with more goes to Request.Write.
const maxPlainHeaders = 32

// writeRequest writes req to bw byte for byte as req.Write does, without
// its allocations (fmt, a transfer writer, a LimitReader, the request-URI
// string): an attempt's request is written on every call, and those were
// a tenth of what the upstream exchange cost. It takes the requests weir
// builds itself: no body, or a replayable one (GetBody set, so held in
// memory and not worth flushing the head ahead of) of known length, an
// ASCII host, at most maxPlainHeaders valid header fields, no trailers,
// Close or Opaque URL. Anything else goes to req.Write. Like req.Write it
// closes the body. h1client reports no httptrace events either way.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	var keys [maxPlainHeaders]string
	sorted, ok := plainRequest(req, keys[:0])
	if !ok {
		return req.Write(bw)
	}
	err := writePlain(bw, req, sorted)
	if req.Body != nil {
		if cerr := req.Body.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// plainRequest reports whether writePlain writes req as req.Write would,
// and returns its header keys, less the ones req.Write writes itself, in
// req.Write's order.
func plainRequest(req *http.Request, keys []string) ([]string, bool) {
	u := req.URL
	if u == nil || u.Opaque != "" || req.Close || len(req.TransferEncoding) > 0 || req.Trailer != nil ||
		req.Method == http.MethodConnect || !h1parse.IsToken(req.Method) && req.Method != "" {
		return nil, false
	}
	switch {
	case req.Body == nil && req.ContentLength == 0:
	case req.Body != nil && req.Body != http.NoBody && req.ContentLength > 0 && req.GetBody != nil:
	default:
		return nil, false
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !plainHost(host) {
		return nil, false
	}
	for k := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if len(keys) == cap(keys) || !h1parse.IsToken(k) {
			return nil, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, true
}

func writePlain(bw *bufio.Writer, req *http.Request, keys []string) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	query := req.URL.ForceQuery || req.URL.RawQuery != ""
	if hasCTL(path) || query && hasCTL(req.URL.RawQuery) {
		return fmt.Errorf("net/http: can't write control character in Request.URL")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	if query {
		bw.WriteByte('?')
		bw.WriteString(req.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1" // net/http's default
	if v, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua = trimValue(ua); ua != "" {
		bw.WriteString("User-Agent: ")
		writeValue(bw, ua)
		bw.WriteString("\r\n")
	}
	if req.ContentLength > 0 || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), req.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	for _, k := range keys {
		for _, v := range req.Header[k] {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(bw, trimValue(v))
			bw.WriteString("\r\n")
		}
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	if req.ContentLength > 0 {
		return copyBody(bw, req.Body, req.ContentLength)
	}
	return nil
}

// copyBody copies exactly n bytes of r into bw's buffer, reading straight
// into it, and fails as req.Write does when r holds more or fewer.
func copyBody(bw *bufio.Writer, r io.Reader, n int64) error {
	var sent int64
	for {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		// Past n the bytes are read to be counted, not written.
		p := bw.AvailableBuffer()[:bw.Available()]
		if left := n - sent; left > 0 && int64(len(p)) > left {
			p = p[:left]
		}
		k, err := r.Read(p)
		if sent < n {
			bw.Write(p[:k])
		}
		sent += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if sent != n {
		return fmt.Errorf("http: ContentLength=%d with Body length %d", n, sent)
	}
	return nil
}

// trimValue trims what textproto.TrimString does, after net/http turned
// CR and LF into spaces.
func trimValue(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// writeValue writes a header value with CR and LF turned into spaces, as
// net/http does: a value cannot start another header line.
func writeValue(bw *bufio.Writer, v string) {
	for {
		i := 0
		for i < len(v) && v[i] != '\r' && v[i] != '\n' {
			i++
		}
		bw.WriteString(v[:i])
		if i == len(v) {
			return
		}
		bw.WriteByte(' ')
		v = v[i+1:]
	}
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f {
			return true
		}
	}
	return false
}

// plainHost reports whether Request.Write would send host unchanged: no
// punycode to apply, no IPv6 zone to drop, nothing its Host check refuses.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		switch b := host[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '.' || b == '-' || b == ':' || b == '[' || b == ']' || b == '_':
		default:
			return false
		}
	}
	return true
}
