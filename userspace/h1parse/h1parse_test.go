package h1parse

import (
	"bufio"
	"net/http"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

var fieldSeeds = []string{
	"Content-Type: application/json\r\nContent-Length: 2\r\n",
	"x-a:  \t v w \t \r\nX-A:\r\nx_b:x\r\nSET-COOKIE: a\r\nset-cookie: b\r\n",
	"X-A: caf\xc3\xa9\xff\r\n",
	"X-A: a\x01\r\n", " X-A: a\r\n", "X-A: a\r\n b\r\n", "X-A : a\r\n", "X-A\r\n", ": a\r\n", "X\x80: a\r\n",
	"",
}

// TestFields compares Fields with textproto's ReadMIMEHeader, and checks
// which blocks it reads.
func TestFields(t *testing.T) {
	plain := []bool{true, true, true, false, false, false, false, false, false, false, true}
	for i, s := range fieldSeeds {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			if _, ok := Fields(s); ok != plain[i] {
				t.Fatalf("ok = %v, want %v", ok, plain[i])
			}
			checkFields(t, s)
		})
	}
}

func checkFields(t *testing.T, s string) {
	t.Helper()
	got, ok := Fields(s)
	if !ok {
		return
	}
	want, err := textproto.NewReader(bufio.NewReader(strings.NewReader(s + "\r\n"))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("Fields read %q, ReadMIMEHeader fails: %v", s, err)
	}
	if !reflect.DeepEqual(got, http.Header(want)) {
		t.Fatalf("Fields = %v, ReadMIMEHeader = %v", got, want)
	}
}

// FuzzFields checks Fields against ReadMIMEHeader on any block Head takes.
func FuzzFields(f *testing.F) {
	for _, s := range fieldSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		head, ok := Head([]byte("GET / HTTP/1.1\r\n" + s + "\r\n"))
		if !ok {
			return
		}
		checkFields(t, string(head[len("GET / HTTP/1.1\r\n"):]))
	})
}

func TestHead(t *testing.T) {
	tests := []struct {
		in, head string
		ok       bool
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\nbody", "GET / HTTP/1.1\r\nHost: h\r\n", true},
		{"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n", true},
		{"GET / HTTP/1.1\r\nHost: h\r\n", "", false},
		{"GET / HTTP/1.1\nHost: h\r\n\r\n", "", false},
		{"GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", "", false},
		{"GET / HTTP/1.1\r\nHost: \nh\r\n\r\n", "", false},
	}
	for _, tt := range tests {
		head, ok := Head([]byte(tt.in))
		if ok != tt.ok || string(head) != tt.head {
			t.Errorf("Head(%q) = %q, %v; want %q, %v", tt.in, head, ok, tt.head, tt.ok)
		}
	}
}

func TestLength(t *testing.T) {
	for _, s := range []string{"0", "7", "003", "123456789012345678", "1234567890123456789", "", "-1", "+1", "1 ", "1_0", "0x1", "١"} {
		want := int64(-1)
		if n, err := strconv.ParseUint(s, 10, 63); err == nil && len(s) <= 18 {
			want = int64(n)
		}
		if got := Length(s); got != want {
			t.Errorf("Length(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for c := range 256 {
		for _, s := range []string{string(rune(c)), "a" + string([]byte{byte(c)}) + "b"} {
			if got, want := IsToken(s), httpguts.ValidHeaderFieldName(s); got != want {
				t.Errorf("IsToken(%q) = %v, httpguts says %v", s, got, want)
			}
		}
	}
	if IsToken("") {
		t.Error("the empty string is a token")
	}
}
