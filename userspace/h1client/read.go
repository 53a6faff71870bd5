package h1client

import (
	"bufio"
	"bytes"
	"net/http"

	"github.com/weir-gateway/weir/userspace/h1parse"
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
	head, ok := h1parse.Head(buf)
	const proto = "HTTP/1.1 "
	nl := bytes.IndexByte(head, '\n')
	if !ok || !bytes.HasPrefix(head, []byte(proto)) || nl < len(proto)+4 {
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
	// One string holds the status and every field name and value.
	all := string(head[len(proto):])
	if !h1parse.ValidValue(all[3:len(status)]) {
		return nil
	}
	h, ok := h1parse.Fields(all[nl+1-len(proto):])
	if !ok {
		return nil
	}
	for _, k := range [...]string{"Transfer-Encoding", "Connection", "Trailer", "Pragma"} {
		if _, ok := h[k]; ok {
			return nil
		}
	}
	cl := h["Content-Length"]
	if len(cl) != 1 {
		return nil
	}
	length := h1parse.Length(cl[0])
	if length < 0 {
		return nil
	}
	_, _ = br.Discard(len(head) + 2)
	resp := &http.Response{
		Status: all[:len(status)], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: length, Request: req, Body: http.NoBody,
	}
	if length > 0 {
		resp.Body = h1parse.NewBody(br, length)
	}
	return resp
}
