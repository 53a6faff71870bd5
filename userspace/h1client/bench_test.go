package h1client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRoundTrip compares Transport with net/http's on the same
// loopback server, side by side in one run: a 1 KiB POST answered with
// 512 bytes over a kept-alive connection.
func BenchmarkRoundTrip(b *testing.B) {
	reply := strings.Repeat("x", 512)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, reply)
	}))
	defer s.Close()
	body := strings.Repeat("y", 1024)
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1client", New(Options{})},
		{"net-http", &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL, strings.NewReader(body))
				resp, err := tc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
