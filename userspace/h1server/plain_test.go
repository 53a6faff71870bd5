package h1server

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/internal/weirtest"
)

// parsedRequest is what a request reader made of raw bytes: the request's
// fields, its body and the body's error, the bytes left after it, and the
// Host fields readRequest reports.
type parsedRequest struct {
	Method, Proto, RequestURI, Host string
	ProtoMajor, ProtoMinor          int
	URL                             *url.URL
	Header, Trailer                 http.Header
	ContentLength                   int64
	TransferEncoding                []string
	Close, NoBody                   bool
	Body, BodyErr, Rest, ReadErr    string
	Hosts                           int
	FirstHost                       string
}

var errNotPlain = errors.New("not plain")

func parseRequest(raw string, plain bool) parsedRequest {
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	_, _ = br.Peek(1) // as awaitRequest does
	var req *http.Request
	var hosts int
	var host string
	var err error
	if plain {
		if req, hosts, host = readPlainRequest(br, 1<<20); req == nil {
			err = errNotPlain
		}
	} else {
		capture := []byte(raw)
		if req, err = http.ReadRequest(br); err == nil {
			hosts, host = scanHosts(capture)
		}
	}
	if err != nil {
		return parsedRequest{ReadErr: err.Error()}
	}
	p := parsedRequest{Method: req.Method, Proto: req.Proto, RequestURI: req.RequestURI, Host: req.Host,
		ProtoMajor: req.ProtoMajor, ProtoMinor: req.ProtoMinor, URL: req.URL, Header: req.Header, Trailer: req.Trailer,
		ContentLength: req.ContentLength, TransferEncoding: req.TransferEncoding, Close: req.Close,
		NoBody: req.Body == http.NoBody, Hosts: hosts, FirstHost: host}
	p.Body, p.BodyErr = weirtest.ReadBytewise(req.Body)
	rest, _ := io.ReadAll(br)
	p.Rest = string(rest)
	return p
}

// TestReadPlainRequestMatchesReadRequest holds readPlainRequest to
// http.ReadRequest (and readRequest's Host count), and checks which heads
// it takes, so that the comparison is not of http.ReadRequest with itself.
func TestReadPlainRequestMatchesReadRequest(t *testing.T) {
	long := "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nX-Long: " + strings.Repeat("a", 4096) + "\r\n\r\n"
	tests := []struct {
		name, raw string
		plain     bool
	}{
		{"chat", "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:9180\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 2\r\nAuthorization: Bearer sk-x\r\nContent-Type: application/json\r\n\r\n{}GET / HTTP/1.1\r\n", true},
		{"get", "GET /v1/models?x=1&y=%20 HTTP/1.1\r\nhost: a.test\r\nx-a: 1\r\nX-A: 2\r\n\r\n", true},
		{"no host", "GET / HTTP/1.1\r\n\r\n", true},
		{"path of two slashes", "GET //evil.test/x HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"keep-alive", "POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
		{"close", "POST / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 1\r\n\r\nx", true},
		{"short body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", true},
		{"expect", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", true},
		{"spaces and obs-text", "GET / HTTP/1.1\r\nHost:\t h \r\nX-A: caf\xc3\xa9\xff\r\n\r\n", true},
		{"bad host value", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", true},

		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", false},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false},
		{"bad length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx", false},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", false},
		{"trailer", "POST / HTTP/1.1\r\nHost: h\r\nTrailer: X\r\nContent-Length: 1\r\n\r\nx", false},
		{"pragma", "GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n", false},
		{"absolute form", "GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"connect", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", false},
		{"other method", "PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"http/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", false},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"bad uri", "GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"three parts", "GET / x HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"bare LF", "GET / HTTP/1.1\nHost: h\r\n\r\n", false},
		{"folded", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", false},
		{"control byte", "GET / HTTP/1.1\r\nHost: h\r\nX-A: \x01\r\n\r\n", false},
		{"not buffered whole", long, false},
		{"cut head", "GET / HTTP/1.1\r\nHost: h\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRequest(tt.raw, true); (got.ReadErr == "") != tt.plain {
				t.Fatalf("plain = %v, want %v", got.ReadErr == "", tt.plain)
			}
			if !tt.plain {
				return
			}
			got, want := parseRequest(tt.raw, true), parseRequest(tt.raw, false)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("readPlainRequest\n%+v\nhttp.ReadRequest\n%+v", got, want)
			}
		})
	}
}

// FuzzReadPlainRequest: whatever head readPlainRequest takes,
// http.ReadRequest reads the same.
func FuzzReadPlainRequest(f *testing.F) {
	f.Add("POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
	f.Add("GET /a?b HTTP/1.1\r\nhost:\tx \r\nConnection: close\r\nX: 1\r\nx: 2\r\n\r\nrest")
	f.Add("DELETE //x/../y%zz HTTP/1.1\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		got := parseRequest(raw, true)
		if got.ReadErr != "" {
			return
		}
		if want := parseRequest(raw, false); !reflect.DeepEqual(got, want) {
			t.Errorf("readPlainRequest\n%+v\nhttp.ReadRequest\n%+v", got, want)
		}
	})
}
