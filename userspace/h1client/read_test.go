package h1client

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/internal/weirtest"
)

// parsed is what a response reader made of raw bytes: the response's
// fields, its body and the body's error, and the bytes left after it.
type parsed struct {
	Status                string
	StatusCode            int
	Proto                 string
	ProtoMajor            int
	ProtoMinor            int
	Header                http.Header
	ContentLength         int64
	TransferEncoding      []string
	Close                 bool
	Trailer               http.Header
	Body, BodyErr, Rest   string
	NoBody, SameRequest   bool
	ReadErr               string
	BufferedAfterHeadRead int
}

func parse(raw string, method string, read func(*bufio.Reader, *http.Request) (*http.Response, error)) parsed {
	br := bufio.NewReaderSize(strings.NewReader(raw), readBufSize)
	_, _ = br.Peek(1) // as exchange does before reading a response
	req := &http.Request{Method: method}
	resp, err := read(br, req)
	if err != nil {
		return parsed{ReadErr: err.Error()}
	}
	p := parsed{Status: resp.Status, StatusCode: resp.StatusCode, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor,
		ProtoMinor: resp.ProtoMinor, Header: resp.Header, ContentLength: resp.ContentLength,
		TransferEncoding: resp.TransferEncoding, Close: resp.Close, Trailer: resp.Trailer,
		NoBody: resp.Body == http.NoBody, SameRequest: resp.Request == req, BufferedAfterHeadRead: br.Buffered()}
	p.Body, p.BodyErr = weirtest.ReadBytewise(resp.Body)
	rest, _ := io.ReadAll(br)
	p.Rest = string(rest)
	return p
}

func plainOnly(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if resp := readPlainResponse(br, req); resp != nil {
		return resp, nil
	}
	return nil, errNotPlain
}

var errNotPlain = io.ErrNoProgress

// TestReadPlainResponseMatchesReadResponse holds readPlainResponse to
// http.ReadResponse, and checks which heads it takes, so that the
// comparison is not of http.ReadResponse with itself.
func TestReadPlainResponseMatchesReadResponse(t *testing.T) {
	long := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", readBufSize) + "\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name, raw, method string
		plain             bool
	}{
		{"mock answer", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\":\"x\"}\nHTTP/1.1 200", "POST", true},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "POST", true},
		{"error status", "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}", "POST", true},
		{"lower-case and odd names", "HTTP/1.1 200 OK\r\nx-request-id: a\r\nopenai-processing-ms: 12\r\nX_Under: u\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"repeated field", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nset-cookie: c=3\r\nContent-Length: 1\r\n\r\nx", "GET", true},
		{"spaces and tabs", "HTTP/1.1 200 OK\r\nX-A:  \t v w \t \r\nX-B:\r\nX-C:x\r\nContent-Length:  3 \r\n\r\nabc", "GET", true},
		{"obs-text", "HTTP/1.1 200 \xffOK\r\nX-A: caf\xc3\xa9\xff\r\nContent-Length: 1\r\n\r\nx", "GET", true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "POST", true},
		{"leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabcdef", "POST", true},

		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "POST", false},
		{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", "POST", false},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"trailer", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok", "POST", false},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok", "POST", false},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "HEAD", false},
		{"no content", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "POST", false},
		{"not modified", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET", false},
		{"continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"two spaces", "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"tab after code", "HTTP/1.1 200\tOK\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"bare CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"folded", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"no colon", "HTTP/1.1 200 OK\r\nX-A\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"control byte", "HTTP/1.1 200 OK\r\nX-A: a\x01\r\nContent-Length: 2\r\n\r\nok", "POST", false},
		{"not buffered whole", long, "POST", false},
		{"cut head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "POST", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(tt.raw, tt.method, plainOnly); (got.ReadErr == "") != tt.plain {
				t.Fatalf("plain = %v, want %v", got.ReadErr == "", tt.plain)
			}
			want := parse(tt.raw, tt.method, http.ReadResponse)
			got := parse(tt.raw, tt.method, readResponse)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("readResponse\n%+v\nhttp.ReadResponse\n%+v", got, want)
			}
		})
	}
}

// FuzzReadPlainResponse: whatever head readPlainResponse takes,
// http.ReadResponse reads the same.
func FuzzReadPlainResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "POST")
	f.Add("HTTP/1.1 200\r\nx-a:\t b \r\nX-A: c\r\ncontent-length: 4\r\n\r\nab", "GET")
	f.Add("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\nHTTP/1.1", "HEAD")
	f.Fuzz(func(t *testing.T, raw, method string) {
		got := parse(raw, method, plainOnly)
		if got.ReadErr != "" {
			return
		}
		if want := parse(raw, method, http.ReadResponse); !reflect.DeepEqual(got, want) {
			t.Errorf("readPlainResponse\n%+v\nhttp.ReadResponse\n%+v", got, want)
		}
	})
}

func TestReadResponseAllocs(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\nContent-Length: 2\r\n\r\n{}"
	rd := strings.NewReader(raw)
	br := bufio.NewReaderSize(rd, readBufSize)
	req := &http.Request{Method: http.MethodPost}
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(raw)
		br.Reset(rd)
		_, _ = br.Peek(1)
		if readPlainResponse(br, req) == nil {
			t.Fatal("not plain")
		}
	})
	// The head string, the map (two), its value slab, the response, the body.
	if allocs > 6 {
		t.Errorf("readPlainResponse allocated %.1f times, want at most 6", allocs)
	}
}
