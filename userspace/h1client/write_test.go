package h1client

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// wireReq describes a request; build makes a fresh one each time, since
// writing consumes the body.
type wireReq struct {
	method, url, body string
	length            int64 // Content-Length when not len(body); -1 leaves it unknown
	noGetBody         bool
	host              string
	header            http.Header
	edit              func(*http.Request)
}

func (w wireReq) build(t testing.TB) *http.Request {
	t.Helper()
	u, err := url.Parse(w.url)
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: w.method, URL: u, Header: http.Header{}, Host: w.host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	for k, v := range w.header {
		req.Header[k] = append([]string(nil), v...)
	}
	if w.body != "" || w.length != 0 {
		req.Body = io.NopCloser(strings.NewReader(w.body))
		req.ContentLength = int64(len(w.body))
		if w.length != 0 {
			req.ContentLength = w.length
		}
		if !w.noGetBody {
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(w.body)), nil }
		}
	}
	if w.edit != nil {
		w.edit(req)
	}
	return req
}

// written is what a writer put on the wire, and its error.
func written(t testing.TB, req *http.Request, write func(*bufio.Writer, *http.Request) error) (string, string) {
	t.Helper()
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 64) // small, so bodies cross flushes
	err := write(bw, req)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return out.String(), err.Error()
	}
	return out.String(), ""
}

func stdWrite(bw *bufio.Writer, req *http.Request) error { return req.Write(bw) }

// TestWriteRequestMatchesRequestWrite holds writeRequest to Request.Write's
// bytes and errors, and checks which requests take the plain path, so that
// the comparison is not of Request.Write with itself.
func TestWriteRequestMatchesRequestWrite(t *testing.T) {
	many := http.Header{}
	for i := range maxPlainHeaders + 1 {
		many.Set(fmt.Sprintf("X-H%02d", i), "v")
	}
	tests := []struct {
		name  string
		req   wireReq
		plain bool
	}{
		{"chat", wireReq{method: "POST", url: "http://127.0.0.1:9199/v1/chat/completions", body: `{"model":"m"}`,
			header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer sk-x"}, "Openai-Organization": {"org"}}}, true},
		{"get no body", wireReq{method: "GET", url: "http://h:80/v1/models"}, true},
		{"empty method", wireReq{url: "http://h/"}, true},
		{"post no body", wireReq{method: "POST", url: "http://h/x"}, true},
		{"put no body", wireReq{method: "PUT", url: "http://h/x"}, true},
		{"delete no body", wireReq{method: "DELETE", url: "http://h/x"}, true},
		{"query", wireReq{method: "GET", url: "http://h/x?a=1&b=%20"}, true},
		{"force query", wireReq{method: "GET", url: "http://h/x?"}, true},
		{"empty path", wireReq{method: "GET", url: "http://h"}, true},
		{"escaped path", wireReq{method: "GET", url: "http://h/a%20b/c%2Fd"}, true},
		{"host override", wireReq{method: "GET", url: "http://127.0.0.1:1/", host: "api.example.com"}, true},
		{"ipv6", wireReq{method: "GET", url: "http://[::1]:8080/"}, true},
		{"user agent", wireReq{method: "GET", url: "http://h/", header: http.Header{"User-Agent": {" weir/1\r\nX-Evil: 1 "}}}, true},
		{"blank user agent", wireReq{method: "GET", url: "http://h/", header: http.Header{"User-Agent": {""}}}, true},
		{"no user agent values", wireReq{method: "GET", url: "http://h/", header: http.Header{"User-Agent": nil}}, true},
		{"values", wireReq{method: "GET", url: "http://h/", header: http.Header{
			"X-Multi": {"a", " b ", "c\nd", "\te\r\n"}, "X-Empty": {""}, "Accept": {"*/*"}, "lower-case": {"kept"},
			"Host": {"ignored"}, "Content-Length": {"99"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}}}, true},
		{"body across flushes", wireReq{method: "POST", url: "http://h/", body: strings.Repeat("0123456789", 50)}, true},
		{"body shorter than length", wireReq{method: "POST", url: "http://h/", body: "abc", length: 10}, true},
		{"body longer than length", wireReq{method: "POST", url: "http://h/", body: strings.Repeat("x", 300), length: 10}, true},
		{"control character in path", wireReq{method: "GET", url: "http://h/", edit: func(r *http.Request) { r.URL.Path = "/a\x7fb" }}, true},
		{"control character in query", wireReq{method: "GET", url: "http://h/", edit: func(r *http.Request) { r.URL.RawQuery = "a=\x01" }}, true},

		{"zone", wireReq{method: "GET", url: "http://[fe80::1%25eth0]:80/"}, false},
		{"unicode host", wireReq{method: "GET", url: "http://h/", host: "bücher.example"}, false},
		{"bad host", wireReq{method: "GET", url: "http://h/", host: "h\r\nX: y"}, false},
		{"close", wireReq{method: "GET", url: "http://h/", edit: func(r *http.Request) { r.Close = true }}, false},
		{"not replayable", wireReq{method: "POST", url: "http://h/", body: "abc", noGetBody: true}, false},
		{"unknown length", wireReq{method: "POST", url: "http://h/", body: "abc", length: -1}, false},
		{"no body", wireReq{method: "POST", url: "http://h/", edit: func(r *http.Request) { r.Body = http.NoBody }}, false},
		{"trailer", wireReq{method: "POST", url: "http://h/", body: "abc", edit: func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} }}, false},
		{"chunked", wireReq{method: "POST", url: "http://h/", body: "abc", edit: func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }}, false},
		{"opaque", wireReq{method: "GET", url: "http://h/", edit: func(r *http.Request) { r.URL.Opaque = "//h/x" }}, false},
		{"connect", wireReq{method: "CONNECT", url: "http://h:443"}, false},
		{"bad method", wireReq{method: "GE T", url: "http://h/"}, false},
		{"bad header name", wireReq{method: "GET", url: "http://h/", header: http.Header{"X Bad": {"v"}, "X-Good": {"v"}}}, false},
		{"many headers", wireReq{method: "GET", url: "http://h/", header: many}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys [maxPlainHeaders]string
			if _, plain := plainRequest(tt.req.build(t), keys[:0]); plain != tt.plain {
				t.Fatalf("plain = %v, want %v", plain, tt.plain)
			}
			want, wantErr := written(t, tt.req.build(t), stdWrite)
			got, gotErr := written(t, tt.req.build(t), writeRequest)
			if got != want || gotErr != wantErr {
				t.Errorf("writeRequest wrote\n%q (err %q)\nRequest.Write\n%q (err %q)", got, gotErr, want, wantErr)
			}
		})
	}
}

// closeCounter counts Close calls on a body.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestWriteRequestClosesBody(t *testing.T) {
	for _, plain := range []bool{true, false} {
		t.Run(fmt.Sprint("plain=", plain), func(t *testing.T) {
			body := &closeCounter{Reader: strings.NewReader("abc")}
			req := wireReq{method: "POST", url: "http://h/", body: "abc", noGetBody: !plain}.build(t)
			req.Body = body
			if err := writeRequest(bufio.NewWriter(io.Discard), req); err != nil {
				t.Fatal(err)
			}
			if body.closed != 1 {
				t.Errorf("body closed %d times, want 1", body.closed)
			}
		})
	}
}

// TestWriteRequestAllocs: the request of an attempt is written without
// allocating.
func TestWriteRequestAllocs(t *testing.T) {
	payload := []byte(strings.Repeat(`{"role":"user","content":"hi"}`, 30))
	rd := bytes.NewReader(payload)
	req := wireReq{method: "POST", url: "http://127.0.0.1:9199/v1/chat/completions", body: string(payload),
		header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer sk-x"}}}.build(t)
	req.Body = io.NopCloser(rd)
	bw := bufio.NewWriterSize(io.Discard, 4<<10)
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(payload)
		if err := writeRequest(bw, req); err != nil {
			t.Fatal(err)
		}
		_ = bw.Flush()
	})
	if allocs != 0 {
		t.Errorf("writeRequest allocated %.1f times per request, want 0", allocs)
	}
}

// FuzzWriteRequest compares writeRequest with Request.Write on arbitrary
// methods, paths, queries, hosts, header fields and body lengths.
func FuzzWriteRequest(f *testing.F) {
	f.Add("POST", "/v1/chat/completions", "", "127.0.0.1:9199", "Content-Type", "application/json", "{}", int64(2))
	f.Add("GET", "/a b", "x=1", "[::1]:80", "X-Multi", " a\r\nb ", "", int64(0))
	f.Add("", "", "", "", "User-Agent", "", "abc", int64(5))
	f.Add("PATCH", "/%zz", "?", "h_1", "lower", "\x00", "abcdef", int64(3))
	f.Fuzz(func(t *testing.T, method, path, query, host, key, value, body string, length int64) {
		build := func() *http.Request {
			req := &http.Request{Method: method, URL: &url.URL{Scheme: "http", Host: "h", Path: path, RawQuery: query},
				Host: host, Header: http.Header{key: {value, value + "2"}}, ContentLength: length}
			if length != 0 {
				req.Body = io.NopCloser(strings.NewReader(body))
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
			}
			return req
		}
		want, wantErr := written(t, build(), stdWrite)
		got, gotErr := written(t, build(), writeRequest)
		if got != want || gotErr != wantErr {
			t.Errorf("writeRequest wrote\n%q (err %q)\nRequest.Write\n%q (err %q)", got, gotErr, want, wantErr)
		}
	})
}
