package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/sockio"
)

// TestHTTP2HandlersFindTheirSocket checks that an HTTP/2 handler's
// context carries the socket under its connection (h2c and over TLS), so
// sockio.Coalesce can hold a response's HEADERS for its DATA, and that
// the response arrives whole either way, with a body or without one.
func TestHTTP2HandlersFindTheirSocket(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Coalesced", strconv.FormatBool(sockio.Coalesce(r.Context())))
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, "hello "+r.Proto)
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Start([]config.Listener{
		{Name: "plain", Address: "127.0.0.1:0"},
		{Name: "secure", Address: "127.0.0.1:0", TLS: &config.TLS{SelfSigned: true}},
	}, config.Server{IdleTimeout: config.Duration(30 * time.Second)}, h, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	h2 := new(http.Protocols)
	h2.SetHTTP2(true)
	for _, tc := range []struct {
		name string
		url  string
		tr   *http.Transport
	}{
		{"h2c", "http://" + s.Addr("plain").String(), &http.Transport{Protocols: h2c}},
		{"h2", "https://" + s.Addr("secure").String(), &http.Transport{Protocols: h2, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.tr.CloseIdleConnections()
			c := &http.Client{Transport: tc.tr, Timeout: 10 * time.Second}
			for path, want := range map[string]string{"/": "hello HTTP/2.0", "/empty": ""} {
				resp, err := c.Get(tc.url + path)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want || resp.ProtoMajor != 2 {
					t.Fatalf("GET %s: %s %q %v; want HTTP/2 %q", path, resp.Proto, b, err, want)
				}
				if got := resp.Header.Get("X-Coalesced"); got != "true" {
					t.Fatalf("GET %s: the handler found its socket: %s, want true", path, got)
				}
			}
		})
	}
}
