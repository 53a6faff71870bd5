package h1client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strings"
)

// readResponse reads a response head from br as http.ReadResponse does.
// A plain head (see readPlainResponse) already in br's buffer is parsed
// here in six allocations, whatever its number of fields (http.ReadResponse
// makes nine for a three-field head, one more per field: a string for each
// value, a textproto reader, a transfer reader, a LimitReader);
// anything else is http.ReadResponse's.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if resp := readPlainResponse(br, req); resp != nil {
		return resp, nil
	}
	return http.ReadResponse(br, req)
}

// readPlainResponse parses the response head waiting in br's buffer and
// returns what http.ReadResponse would, or nil, consuming nothing, when
// the head is not plain: all of it buffered, "HTTP/1.1 NNN reason", CRLF
// line ends, token field names, no folded lines or bytes
// http.ReadResponse refuses, one Content-Length and no Transfer-Encoding,
// Connection, Trailer or Pragma field, and a status and method that allow
// a body. Those cover a model server's non-streaming answer; streams
// (chunked) and the unusual take the standard path.
func readPlainResponse(br *bufio.Reader, req *http.Request) *http.Response {
	if req != nil && req.Method == http.MethodHead {
		return nil
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	head := buf[:end+2] // every line with its CRLF
	const proto = "HTTP/1.1 "
	nl := bytes.IndexByte(head, '\n')
	if !bytes.HasPrefix(head, []byte(proto)) || nl < len(proto)+4 {
		return nil
	}
	status := head[len(proto) : nl-1]
	if len(status) > 3 && status[3] != ' ' {
		return nil
	}
	code := 0
	for _, b := range status[:3] {
		if b < '0' || b > '9' {
			return nil
		}
		code = code*10 + int(b-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil
	}
	fields := head[nl+1:]
	n := bytes.Count(fields, []byte("\n"))
	// A lone CR or LF would end or split a line differently in textproto.
	if bytes.Count(head, []byte("\r")) != n+1 || bytes.Count(head, []byte("\r\n")) != n+1 {
		return nil
	}
	for _, b := range status[3:] {
		if b < ' ' && b != '\t' || b == 0x7f {
			return nil
		}
	}
	// One string holds the status and every field name and value.
	all := string(head[len(proto):])
	statusText, s := all[:len(status)], all[nl+1-len(proto):]
	h := make(http.Header, n)
	slab := make([]string, n)
	length := int64(-1)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		line := s[:i-1]
		s = s[i+1:]
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			return nil
		}
		k, v, ok := cut(line, ':')
		if !ok || !isToken(k) || !validValue(v) {
			return nil
		}
		key := textproto.CanonicalMIMEHeaderKey(k)
		v = trimSpaceTab(v)
		switch key {
		case "Transfer-Encoding", "Connection", "Trailer", "Pragma":
			return nil
		case "Content-Length":
			if length >= 0 {
				return nil
			}
			if length = parseLength(v); length < 0 {
				return nil
			}
		}
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else {
			slab[0] = v
			h[key], slab = slab[:1:1], slab[1:]
		}
	}
	if length < 0 {
		return nil
	}
	_, _ = br.Discard(len(head) + 2)
	resp := &http.Response{
		Status: statusText, StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: length, Request: req, Body: http.NoBody,
	}
	if length > 0 {
		resp.Body = &lengthBody{br: br, n: length}
	}
	return resp
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// validValue reports whether textproto accepts v: no control bytes but tab.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func trimSpaceTab(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseLength parses a Content-Length of plain digits, or returns -1.
func parseLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

// lengthBody reads a Content-Length body as net/http's does: EOF comes
// with the last byte, and a connection that ends early is
// io.ErrUnexpectedEOF.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.br.Read(p)
	b.n -= int64(k)
	switch {
	case b.n == 0:
		return k, io.EOF
	case err == io.EOF:
		return k, io.ErrUnexpectedEOF
	}
	return k, err
}

func (b *lengthBody) Close() error { return nil }
