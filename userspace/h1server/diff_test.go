package h1server

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// diffCase is raw request bytes written to both servers; the responses and
// what became of the connection must be the same.
type diffCase struct {
	name  string
	steps []step
	head  bool // the responses answer HEAD requests
	// statusOnly compares only status, Connection and the connection's
	// fate: for answers the server writes itself, whose bodies are free text.
	statusOnly bool
	// anyFraming ignores how the body is framed (Content-Length or
	// chunked): where net/http's choice is an accident (it chunks a body
	// whose invalid Content-Length it dropped), not a rule.
	anyFraming bool
	// want are the statuses net/http answers with (1xx included) and what
	// becomes of the connection, so a case cannot pass by both servers
	// being wrong the same way.
	want  []int
	after string
}

func one(raw string) []step { return []step{{write: raw, read: 1}} }

// diffMaxHeaderBytes is both servers' MaxHeaderBytes in TestDifferential.
const diffMaxHeaderBytes = 16 << 10

// big is n bytes of filler.
func big(n int) string { return strings.Repeat("z", n) }

// chunked encodes body as chunks of at most size bytes.
func chunked(body string, size int) string {
	var b strings.Builder
	for len(body) > 0 {
		n := min(size, len(body))
		b.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n" + body[:n] + "\r\n")
		body = body[n:]
	}
	return b.String() + "0\r\n\r\n"
}

// smuggled is a request hidden in a chunk: a server that framed the body
// by Content-Length would answer it as a second request.
var smuggled = req("GPOST /echo HTTP/1.1", "Host: a", "Content-Length: 15") + "x=1"

var requestCases = []diffCase{
	{name: "get", steps: one(req("GET /echo?q=1 HTTP/1.1", "Host: a.test", "X-A: 1", "X-A: 2")), want: []int{200}, after: "open"},
	{name: "get absolute form", steps: one(req("GET http://b.test/echo?x=1 HTTP/1.1", "Host: a.test")), want: []int{200}, after: "open"},
	{name: "get ipv6 host", steps: one(req("GET /echo HTTP/1.1", "Host: [::1]:8080")), want: []int{200}, after: "open"},
	{name: "get empty host", steps: one(req("GET /echo HTTP/1.1", "Host:")), want: []int{200}, after: "open"},
	{name: "get with body", steps: one(req("GET /echo HTTP/1.1", "Host: a", "Content-Length: 3") + "abc"), want: []int{200}, after: "open"},
	{name: "lowercase method", steps: one(req("get /echo HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "extension method", steps: one(req("PROPFIND /echo HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "options star", steps: one(req("OPTIONS * HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "connect", steps: one(req("CONNECT a.test:443 HTTP/1.1", "Host: a.test:443")), want: []int{200}, after: "open"},
	{name: "connect without host", steps: one(req("CONNECT a.test:443 HTTP/1.1")), want: []int{200}, after: "open"},
	{name: "header folding tab", steps: one(req("GET /echo HTTP/1.1", "Host: a", "X-A:\tb\t")), want: []int{200}, after: "open"},
	{name: "header under limit", steps: one(req("GET /echo HTTP/1.1", "Host: a", "X-Big: "+big(10<<10))), want: []int{200}, after: "open"},
	{name: "post content-length", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 5") + "hello"), want: []int{200}, after: "open"},
	{name: "post content-length zero", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 0")), want: []int{200}, after: "open"},
	{name: "post no length", steps: one(req("POST /echo HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "post duplicate equal content-length", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 3") + "abc"), want: []int{200}, after: "open"},
	{name: "post leading zero content-length", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 003") + "abc"), want: []int{200}, after: "open"},
	{name: "chunked", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "chunked uppercase", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: Chunked") + "A\r\n0123456789\r\n0000\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "chunked extensions", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5;name=val\r\nhello\r\n1;a=\"b;c\"\r\n!\r\n0;last\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "chunked trailers", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Trailer: X-T") + "5\r\nhello\r\n0\r\nX-T: v\r\nX-U: w\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "chunked many small", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + chunked(big(1000), 7)), want: []int{200}, after: "open"},
	{name: "head", head: true, steps: one(req("HEAD /echo HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "head big", head: true, steps: one(req("HEAD /big/70000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "head handler content-length", head: true, steps: one(req("HEAD /cl/10/10 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "head flush", head: true, steps: one(req("HEAD /flush HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "http/1.0", steps: one(req("GET /echo HTTP/1.0")), want: []int{200}, after: "closed"},
	{name: "http/1.0 keep-alive", steps: one(req("GET /echo HTTP/1.0", "Connection: keep-alive")), want: []int{200}, after: "open"},
	{name: "http/1.0 keep-alive post", steps: one(req("POST /echo HTTP/1.0", "Connection: Keep-Alive", "Content-Length: 2") + "hi"), want: []int{200}, after: "open"},
	{name: "http/1.0 keep-alive close token", steps: one(req("GET /echo HTTP/1.0", "Connection: keep-alive, close")), want: []int{200}, after: "open"},
	{name: "connection close", steps: one(req("GET /echo HTTP/1.1", "Host: a", "Connection: close")), want: []int{200}, after: "closed"},
	{name: "connection close uppercase", steps: one(req("GET /echo HTTP/1.1", "Host: a", "Connection: CLOSE")), want: []int{200}, after: "closed"},
	{name: "connection close in list", steps: one(req("GET /echo HTTP/1.1", "Host: a", "Connection: x-foo, close")), want: []int{200}, after: "closed"},
	{name: "connection close second header", steps: one(req("GET /echo HTTP/1.1", "Host: a", "Connection: keep-alive", "Connection: close")), want: []int{200}, after: "closed"},
	{name: "handler connection close", steps: one(req("GET /close HTTP/1.1", "Host: a")), want: []int{200}, after: "closed"},
	{name: "pipelined gets", steps: []step{{write: req("GET /echo?n=1 HTTP/1.1", "Host: a") + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "pipelined three mixed", steps: []step{{write: req("POST /echo?n=1 HTTP/1.1", "Host: a", "Content-Length: 4") + "abcd" +
		req("POST /echo?n=2 HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "2\r\nef\r\n0\r\n\r\n" + req("GET /echo?n=3 HTTP/1.1", "Host: a"), read: 3}}, want: []int{200, 200, 200}, after: "open"},
	{name: "pipelined 100", steps: []step{{write: strings.Repeat(req("GET /echo HTTP/1.1", "Host: a"), 99) + req("GET /echo?last HTTP/1.1", "Host: a"), read: 100}}, want: slices.Repeat([]int{200}, 100), after: "open"},
	{name: "pipelined after big body", steps: []step{{write: req("POST /echo?n=1 HTTP/1.1", "Host: a", "Content-Length: 10000") + big(10000) + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "pipelined after big chunked body", steps: []step{{write: req("POST /echo?n=1 HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + chunked(big(10000), 3000) + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "pipelined after close", steps: []step{{write: req("GET /echo?n=1 HTTP/1.1", "Host: a", "Connection: close") + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 1}}, want: []int{200}, after: "closed"},
	{name: "pipelined after bad request", steps: []step{{write: req("GET /echo HTTP/1.1") + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 1}}, statusOnly: true, want: []int{400}, after: "closed"},
	{name: "crlf after post body", steps: []step{{write: req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 2") + "hi\r\n" + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "upgrade not taken", steps: one(req("GET /echo HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket")), want: []int{200}, after: "open"},
	{name: "two requests, two writes", steps: []step{{write: req("GET /echo?n=1 HTTP/1.1", "Host: a"), read: 1}, {write: req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 1}}, want: []int{200, 200}, after: "open"},
}

var responseCases = []diffCase{
	{name: "small body content-length", steps: one(req("GET /big/100 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "empty body", steps: one(req("GET /empty HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "flush chunked", steps: one(req("GET /flush HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "big chunked", steps: one(req("GET /big/70000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "one big write", steps: one(req("GET /one/70000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "one big write http/1.0", steps: one(req("GET /one/70000 HTTP/1.0")), want: []int{200}, after: "closed"},
	{name: "one big write head", head: true, steps: one(req("HEAD /one/70000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "one big write trailers", steps: one(req("GET /trailer/70000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "handler content-length", steps: one(req("GET /cl/10/10 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "handler content-length big", steps: one(req("GET /cl/70000/70000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "handler content-length short", steps: one(req("GET /cl/10/5 HTTP/1.1", "Host: a")), want: []int{200}, after: "closed"},
	{name: "handler content-length long", steps: one(req("GET /cl/5/10 HTTP/1.1", "Host: a")), want: []int{200}, after: "closed"},
	{name: "handler content-length zero", steps: one(req("GET /cl/0/0 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "handler content-length invalid", steps: one(req("GET /cl/abc/3 HTTP/1.1", "Host: a")), anyFraming: true, want: []int{200}, after: "open"},
	{name: "handler content-length negative", steps: one(req("GET /cl/-1/3 HTTP/1.1", "Host: a")), anyFraming: true, want: []int{200}, after: "open"},
	{name: "handler content-length injection", steps: one(req("GET /cl/3%0D%0AX-Evil:%201/3 HTTP/1.1", "Host: a")), anyFraming: true, want: []int{200}, after: "open"},
	{name: "handler transfer-encoding chunked", steps: one(req("GET /setchunked HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "http/1.0 flush close-delimited", steps: one(req("GET /flush HTTP/1.0")), want: []int{200}, after: "closed"},
	{name: "http/1.0 keep-alive flush", steps: one(req("GET /flush HTTP/1.0", "Connection: keep-alive")), want: []int{200}, after: "closed"},
	{name: "http/1.0 keep-alive big", steps: one(req("GET /big/70000 HTTP/1.0", "Connection: keep-alive")), want: []int{200}, after: "closed"},
	{name: "http/1.0 keep-alive small", steps: one(req("GET /big/100 HTTP/1.0", "Connection: keep-alive")), want: []int{200}, after: "open"},
	{name: "http/1.0 trailer", steps: one(req("GET /trailer HTTP/1.0")), want: []int{200}, after: "closed"},
	{name: "sniffed", steps: one(req("GET /sniff HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "sniffed when flushed", steps: one(req("GET /flush HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "not sniffed when nil", steps: one(req("GET /nosniff HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "content-type kept", steps: one(req("GET /typed HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "status 204", steps: one(req("GET /status/204 HTTP/1.1", "Host: a")), want: []int{204}, after: "open"},
	{name: "status 304", steps: one(req("GET /status/304 HTTP/1.1", "Host: a")), want: []int{304}, after: "open"},
	{name: "status 404", steps: one(req("GET /status/404 HTTP/1.1", "Host: a")), want: []int{404}, after: "open"},
	{name: "status 599", steps: one(req("GET /status/599 HTTP/1.1", "Host: a")), want: []int{599}, after: "open"},
	{name: "status 204 then next", steps: []step{{write: req("GET /status/204 HTTP/1.1", "Host: a") + req("GET /echo HTTP/1.1", "Host: a"), read: 2}}, want: []int{204, 200}, after: "open"},
	{name: "status 204 http/1.0 keep-alive", steps: one(req("GET /status/204 HTTP/1.0", "Connection: keep-alive")), want: []int{204}, after: "open"},
	{name: "early hints", steps: []step{{write: req("GET /hints HTTP/1.1", "Host: a"), read: 2}}, want: []int{103, 200}, after: "open"},
	{name: "big response header", steps: one(req("GET /bighdr/20000 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "status 204 with content-length", steps: one(req("GET /statuscl/204 HTTP/1.1", "Host: a")), want: []int{204}, after: "open"},
	{name: "status 304 with content-length", steps: one(req("GET /statuscl/304 HTTP/1.1", "Host: a")), want: []int{304}, after: "open"},
	{name: "status 200 with content-length", steps: one(req("GET /statuscl/200 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "head status 200 with content-length", head: true, steps: one(req("HEAD /statuscl/200 HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "handler transfer-encoding identity", steps: one(req("GET /identity HTTP/1.1", "Host: a")), want: []int{200}, after: "closed"},
	{name: "superfluous WriteHeader", steps: one(req("GET /twice HTTP/1.1", "Host: a")), want: []int{202}, after: "open"},
	{name: "header changed after WriteHeader", steps: one(req("GET /late/status HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "header changed after Write", steps: one(req("GET /late/write HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "trailers", steps: one(req("GET /trailer HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "header injection", steps: one(req("GET /inject HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
	{name: "trailer injection", steps: one(req("GET /injecttrailer HTTP/1.1", "Host: a")), want: []int{200}, after: "open"},
}

// badCases are malformed and ambiguous requests, request smuggling
// attempts among them: the probe written after the answer shows whether a
// server kept reading the connection from a place the reference would not.
var badCases = []diffCase{
	{name: "request line missing version", steps: one("GET /\r\nHost: a\r\n\r\n"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line extra field", steps: one(req("GET / HTTP/1.1 x", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line space in target", steps: one(req("GET /a b HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line tab", steps: one(req("GET\t/ HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line empty method", steps: one(req(" / HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line bad method", steps: one(req("G(T / HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line bad target", steps: one(req("GET http://[ HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line nul in target", steps: one(req("GET /\x00 HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line lowercase version", steps: one(req("GET / http/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line version 1.10", steps: one(req("GET / HTTP/1.10", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "request line version 2.0", steps: one(req("GET / HTTP/2.0", "Host: a")), statusOnly: true, want: []int{505}, after: "closed"},
	{name: "request line version 0.9", steps: one(req("GET / HTTP/0.9", "Host: a")), statusOnly: true, want: []int{505}, after: "closed"},
	{name: "empty request line", steps: one("\r\n" + req("GET /echo HTTP/1.1", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "tls hello on plain", steps: one("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + big(40) + "\r\n\r\n"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header without colon", steps: one(req("GET / HTTP/1.1", "Host: a", "NoColon")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header space before colon", steps: one(req("GET / HTTP/1.1", "Host : a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header space in name", steps: one(req("GET / HTTP/1.1", "Host: a", "X Y: z")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header nul in name", steps: one(req("GET / HTTP/1.1", "Host: a", "X\x00Y: z")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header nul in value", steps: one(req("GET / HTTP/1.1", "Host: a", "X: a\x00b")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header bare cr in value", steps: one(req("GET / HTTP/1.1", "Host: a", "X: a\rb")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header del in value", steps: one(req("GET / HTTP/1.1", "Host: a", "X: a\x7fb")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header obs-fold", steps: one(req("GET /echo HTTP/1.1", "Host: a", "X: a", " b")), want: []int{200}, after: "open"},
	{name: "header leading whitespace", steps: one(req("GET / HTTP/1.1", " Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header bare lf", steps: one("GET /echo HTTP/1.1\nHost: a\nX: 1\n\n"), want: []int{200}, after: "open"},
	{name: "header colon first", steps: one(req("GET / HTTP/1.1", "Host: a", ": v")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "host missing", steps: one(req("GET / HTTP/1.1")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "host twice", steps: one(req("GET / HTTP/1.1", "Host: a", "Host: b")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "host twice same", steps: one(req("GET / HTTP/1.1", "Host: a", "Host: a")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "host invalid", steps: one(req("GET / HTTP/1.1", "Host: a b")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "host invalid byte", steps: one(req("GET / HTTP/1.1", "Host: a\x01b")), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "header over limit", steps: one(req("GET / HTTP/1.1", "Host: a", "X-Big: "+big(64<<10))), statusOnly: true, want: []int{431}, after: "closed"},
	{name: "many headers over limit", steps: one("GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: b\r\n", 8000) + "\r\n"), statusOnly: true, want: []int{431}, after: "closed"},
	{name: "target over limit", steps: one(req("GET /"+big(64<<10)+" HTTP/1.1", "Host: a")), statusOnly: true, want: []int{431}, after: "closed"},
	{name: "expect unsupported", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Expect: teapot", "Content-Length: 2") + "hi"), statusOnly: true, want: []int{417}, after: "closed"},
	// Content-Length and Transfer-Encoding together: net/http drops the
	// Content-Length and reads chunks; so must every server, or the two
	// disagree on where the next request starts.
	{name: "cl and te", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "te and cl", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 30") + "5\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "cl.te smuggle", steps: []step{{write: req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 6", "Transfer-Encoding: chunked") + "0\r\n\r\nG", read: 1}}, want: []int{200}, after: `open, but the probe got 200 "probe GGET /probe"`},
	{name: "te.cl smuggle", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 4", "Transfer-Encoding: chunked") + chunked(smuggled, len(smuggled))), want: []int{200}, after: "open"},
	{name: "cl different", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4") + "abcd"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl list", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 3, 3") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl plus sign", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: +3") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl negative", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: -3") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl hex", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 0x3") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl empty", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length:") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl underscore", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 1_0") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl overflow", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 99999999999999999999") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "cl space inside", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 1 0") + "abc"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "te identity", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: identity", "Content-Length: 3") + "abc"), statusOnly: true, want: []int{501}, after: "closed"},
	{name: "te gzip chunked", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked") + "0\r\n\r\n"), statusOnly: true, want: []int{501}, after: "closed"},
	{name: "te chunked chunked", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, chunked") + "0\r\n\r\n"), statusOnly: true, want: []int{501}, after: "closed"},
	{name: "te two headers", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + "0\r\n\r\n"), statusOnly: true, want: []int{501}, after: "closed"},
	{name: "te xchunked", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: xchunked") + "0\r\n\r\n"), statusOnly: true, want: []int{501}, after: "closed"},
	{name: "te empty", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding:") + "0\r\n\r\n"), statusOnly: true, want: []int{501}, after: "closed"},
	{name: "te vertical tab", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked\x0b") + "0\r\n\r\n"), statusOnly: true, want: []int{400}, after: "closed"},
	{name: "te on http/1.0 with cl", steps: one(req("POST /echo HTTP/1.0", "Connection: keep-alive", "Transfer-Encoding: chunked", "Content-Length: 3") + "abc"), want: []int{200}, after: "open"},
	{name: "te on http/1.0 without cl", steps: one(req("POST /echo HTTP/1.0", "Connection: keep-alive", "Transfer-Encoding: chunked") + "0\r\n\r\n"), statusOnly: true, want: []int{200}, after: "open, but the probe got 400"},
	{name: "chunk size invalid", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "zz\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk size negative", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "-1\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk size overflow", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "10000000000000000\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk size empty", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk size 0x prefix", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "0x5\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk size trailing space", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5 \r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "open"},
	{name: "chunk data too long", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\r\nhelloXX\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk bare lf", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\nhello\n0\n\n"), want: []int{200}, after: "closed"},
	{name: "chunk extension bare cr", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5;a\rb\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk extension huge", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "1;" + big(8000) + "\r\nx\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk trailer bad", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\nNoColon\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk unread invalid", steps: one(req("POST /ignore HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "zz\r\nhello\r\n0\r\n\r\n"), want: []int{200}, after: "closed"},
	{name: "chunk unread bare lf", steps: one(req("POST /ignore HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\nhello\n0\n\n"), want: []int{200}, after: "closed"},
}

// bodyCases are bodies the handler leaves unread, and Expect: 100-continue.
var bodyCases = []diffCase{
	{name: "unread small body", steps: []step{{write: req("POST /ignore HTTP/1.1", "Host: a", "Content-Length: 10") + "0123456789" + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "unread small chunked body", steps: []step{{write: req("POST /ignore HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + chunked(big(1000), 100) + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "unread body at limit", steps: []step{{write: req("POST /ignore HTTP/1.1", "Host: a", "Content-Length: 200000") + big(200000) + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "partly read body", steps: []step{{write: req("POST /partial/3 HTTP/1.1", "Host: a", "Content-Length: 10") + "0123456789" + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "partly read chunked body", steps: []step{{write: req("POST /partial/3 HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "a\r\n0123456789\r\n0\r\n\r\n" + req("GET /echo?n=2 HTTP/1.1", "Host: a"), read: 2}}, want: []int{200, 200}, after: "open"},
	{name: "body closed unread", steps: one(req("POST /closebody HTTP/1.1", "Host: a", "Content-Length: 10") + "0123456789"), want: []int{200}, after: "open"},
	{name: "empty body closed", steps: one(req("POST /closebody HTTP/1.1", "Host: a", "Content-Length: 0")), want: []int{200}, after: "open"},
	{name: "unread big body", steps: one(req("POST /ignore HTTP/1.1", "Host: a", "Content-Length: 300000") + big(300000)), want: []int{200}, after: "closed"},
	{name: "unread big chunked body", steps: one(req("POST /ignore HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + chunked(big(300000), 16<<10)), want: []int{200}, after: "closed"},
	{name: "expect read", steps: []step{
		{write: req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 5", "Expect: 100-continue"), read: 1},
		{write: "hello", read: 1},
	}, want: []int{100, 200}, after: "open"},
	{name: "expect read chunked", steps: []step{
		{write: req("POST /echo HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Expect: 100-Continue"), read: 1},
		{write: "5\r\nhello\r\n0\r\n\r\n", read: 1},
	}, want: []int{100, 200}, after: "open"},
	{name: "expect ignored", steps: one(req("POST /ignore HTTP/1.1", "Host: a", "Content-Length: 5", "Expect: 100-continue")), want: []int{200}, after: "closed"},
	{name: "expect ignored, body sent", steps: one(req("POST /ignore HTTP/1.1", "Host: a", "Content-Length: 5", "Expect: 100-continue") + "hello"), want: []int{200}, after: "closed"},
	{name: "expect partly read", steps: []step{
		{write: req("POST /partial/2 HTTP/1.1", "Host: a", "Content-Length: 5", "Expect: 100-continue"), read: 1},
		{write: "hello", read: 1},
	}, want: []int{100, 200}, after: "closed"},
	{name: "expect ignored status", steps: one(req("POST /status/401 HTTP/1.1", "Host: a", "Content-Length: 5", "Expect: 100-continue")), want: []int{401}, after: "closed"},
	{name: "expect body sent anyway", steps: []step{{write: req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 5", "Expect: 100-continue") + "hello", read: 2}}, want: []int{100, 200}, after: "open"},
	{name: "expect zero length", steps: one(req("POST /echo HTTP/1.1", "Host: a", "Content-Length: 0", "Expect: 100-continue")), want: []int{200}, after: "open"},
	{name: "expect http/1.0", steps: one(req("POST /echo HTTP/1.0", "Content-Length: 5", "Expect: 100-continue") + "hello"), want: []int{200}, after: "closed"},
}

// knownDiffs are the cases where h1server is known to answer otherwise
// than net/http, with why; they are skipped (with both answers logged)
// while they differ and fail once they match, so the entry gets removed.
var knownDiffs = map[string]string{}

// TestDifferential writes the same raw bytes to net/http's server and to
// h1server and compares what comes back and whether the connection stays.
func TestDifferential(t *testing.T) {
	servers := make([]*running, len(impls))
	for i, im := range impls {
		servers[i] = start(t, im, options{handler: testHandler(), maxHeaderBytes: diffMaxHeaderBytes})
	}
	groups := []struct {
		name  string
		cases []diffCase
	}{{"request", requestCases}, {"response", responseCases}, {"bad", badCases}, {"body", bodyCases}}
	// The exchanges run at once: some servers pause before closing.
	type result [2]exchange
	results := make([][]result, len(groups))
	var wg sync.WaitGroup
	for g, group := range groups {
		results[g] = make([]result, len(group.cases))
		for c, tc := range group.cases {
			for i, s := range servers {
				wg.Go(func() { results[g][c][i] = run(s.addr, tc.steps, tc.head) })
			}
		}
	}
	wg.Wait()
	for g, group := range groups {
		t.Run(group.name, func(t *testing.T) {
			for c, tc := range group.cases {
				t.Run(tc.name, func(t *testing.T) {
					ref, got := results[g][c][0], results[g][c][1]
					var status []int
					for _, r := range ref.resps {
						status = append(status, statusCode(r.status))
					}
					if !slices.Equal(status, tc.want) || ref.after != tc.after {
						t.Errorf("the reference (net/http) answered %v, after: %s; the case wants %v, after: %s\n%s",
							status, ref.after, tc.want, tc.after, ref.render(false, false))
					}
					want, have := ref.render(tc.statusOnly, tc.anyFraming), got.render(tc.statusOnly, tc.anyFraming)
					if bug, ok := knownDiffs[tc.name]; ok {
						if want == have {
							t.Errorf("h1server now matches net/http: drop %q from knownDiffs", tc.name)
						} else {
							t.Skipf("known difference (%s):\nrequest bytes %q\nnet/http:\n%s\nh1server:\n%s", bug, requestBytes(tc.steps), want, have)
						}
						return
					}
					if want != have {
						t.Errorf("request bytes %q\nnet/http:\n%s\nh1server:\n%s", requestBytes(tc.steps), want, have)
					}
				})
			}
		})
	}
}

func statusCode(status string) int {
	// "HTTP/1.1 200 OK"
	if f := strings.Fields(status); len(f) >= 2 {
		n, _ := strconv.Atoi(f[1])
		return n
	}
	return 0
}

func requestBytes(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.write)
	}
	if b.Len() > 600 {
		return b.String()[:600] + "..."
	}
	return b.String()
}
