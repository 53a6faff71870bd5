// Package h1parse parses plain HTTP/1.1 message heads that sit whole in a
// read buffer, returning exactly what net/http's parsers (http.ReadRequest,
// http.ReadResponse, textproto's ReadMIMEHeader) return for them, with a
// few allocations instead of one or more per field. "Plain" is narrow on
// purpose: CRLF line ends, no folded lines, token field names, no bytes
// textproto refuses. The callers (h1server, h1client) take the standard
// parser for anything else, so an unusual or hostile head is judged by
// net/http, and their fuzz targets compare the two on every head taken.
package h1parse

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strings"
)

// Head returns the head at the start of buf: its lines through the CRLF
// of the last field line, without the blank line that ends it (the head
// with that line is len(head)+2 bytes). ok is false when buf does not hold
// the whole head, or a line of it ends otherwise than with CRLF or holds a
// lone CR or LF.
func Head(buf []byte) (head []byte, ok bool) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, false
	}
	head = buf[:end+2]
	n := bytes.Count(head, []byte("\n"))
	if bytes.Count(head, []byte("\r")) != n || bytes.Count(head, []byte("\r\n")) != n {
		return nil, false
	}
	return head, true
}

// Fields parses field lines, each ended by CRLF (what follows the start
// line in a Head), as textproto's ReadMIMEHeader does: canonical names,
// values trimmed of spaces and tabs, repeated names in order. The values
// are cut from s and share one backing array; the map is the only other
// allocation. ok is false for what ReadMIMEHeader does not read the same
// way: a line that starts with a space or tab (folded), a name that is
// not a token, a value byte it refuses.
func Fields(s string) (h http.Header, ok bool) {
	n := strings.Count(s, "\n")
	h = make(http.Header, n)
	slab := make([]string, n)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		line := s[:i-1]
		s = s[i+1:]
		k, v, found := strings.Cut(line, ":")
		if !found || !IsToken(k) || !ValidValue(v) {
			return nil, false
		}
		key := textproto.CanonicalMIMEHeaderKey(k)
		v = trimSpaceTab(v)
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else {
			slab[0] = v
			h[key], slab = slab[:1:1], slab[1:]
		}
	}
	return h, true
}

// ValidValue reports whether textproto accepts v as a field value (or a
// reason phrase): no control bytes but tab.
func ValidValue(v string) bool {
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

// Length parses a Content-Length of one to 18 digits, or returns -1 (for
// anything else, net/http's own parsing decides).
func Length(v string) int64 {
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

// IsToken reports whether s is an RFC 9110 token (a method, a field name).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b < 0x80 && tokenPunct[b]:
		default:
			return false
		}
	}
	return true
}

var tokenPunct = [128]bool{'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true,
	'*': true, '+': true, '-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true}

// NewBody returns a reader of the n-byte body that follows a head in br,
// which reads as net/http's does: EOF comes with the last byte, and a
// stream that ends early is io.ErrUnexpectedEOF. Close does nothing (the
// caller owns the connection).
func NewBody(br *bufio.Reader, n int64) io.ReadCloser { return &body{br: br, n: n} }

type body struct {
	br *bufio.Reader
	n  int64
}

func (b *body) Read(p []byte) (int, error) {
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

func (b *body) Close() error { return nil }
