package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hang answers nothing until the client goes away.
func hang(_ http.ResponseWriter, r *http.Request) { waitGone(r) }

// waitGone waits until the client of r goes away. net/http notices that
// only once the request body was read.
func waitGone(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// streamThenHang sends the role event and n content events, then nothing
// until the client goes away; gone (when not nil) is closed then.
func streamThenHang(n int, gone chan struct{}) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"role\":\"assistant\"}\n\n")
		for i := range n {
			_, _ = fmt.Fprintf(w, "data: {\"content\":\"c%d\"}\n\n", i)
		}
		w.(http.Flusher).Flush()
		waitGone(r)
		if gone != nil {
			close(gone)
		}
	}
}

// timeoutTargets is twoTargets with the given retry section and provider
// timeouts.
func timeoutTargets(a, b, retry, timeouts string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
retry: %s
server: {keepalive_interval: 10s}
providers:
  - {name: a, type: openai, base_url: %q, timeouts: %s}
  - {name: b, type: openai, base_url: %q, timeouts: %s}
models:
  - name: m
    targets:
      - {provider: a, model: ma, priority: 0}
      - {provider: b, model: mb, priority: 1}
`, retry, a, timeouts, b, timeouts)
}

// TestTimeouts: the request deadline bounds the whole request (waiting,
// backoff, streaming); the first-byte and idle timeouts end one attempt,
// which fails over before content and ends the stream with an error event
// after it.
func TestTimeouts(t *testing.T) {
	type handler = func(http.ResponseWriter, *http.Request)
	tests := []struct {
		name         string
		retry        string
		timeouts     string
		a, b         []handler
		body         string
		wantStatus   int
		wantA, wantB int64
		want         []string // in the body
		notWant      []string
	}{
		{
			name:  "deadline before any answer",
			retry: "{max_attempts: 3, backoff: 1ms, deadline: 200ms}", timeouts: "{first_byte: 10s, idle: 10s}",
			a: []handler{hang}, body: chatBody, wantStatus: http.StatusGatewayTimeout, wantA: 1, wantB: 0,
			want: []string{"request deadline exceeded before an upstream answered"},
		},
		{
			name:  "deadline during backoff",
			retry: "{max_attempts: 3, backoff: 10s, max_backoff: 10s, deadline: 200ms}", timeouts: "{first_byte: 10s, idle: 10s}",
			a: []handler{status(500)}, body: chatBody, wantStatus: http.StatusGatewayTimeout, wantA: 1, wantB: 0,
			want: []string{"request deadline exceeded before an upstream answered"},
		},
		{
			name:  "deadline mid-stream ends it with an error event",
			retry: "{max_attempts: 3, backoff: 1ms, deadline: 300ms}", timeouts: "{first_byte: 10s, idle: 10s}",
			a: []handler{streamThenHang(1, nil)}, body: streamBody, wantStatus: http.StatusOK, wantA: 1, wantB: 0,
			want: []string{`"c0"`, `"error"`, `"code":504`}, notWant: []string{"[DONE]"},
		},
		{
			name:  "first byte timeout fails over",
			retry: "{max_attempts: 3, backoff: 1ms, deadline: 10s}", timeouts: "{first_byte: 150ms, idle: 10s}",
			a: []handler{hang}, b: []handler{stream(1, 0, false)}, body: streamBody, wantStatus: http.StatusOK, wantA: 1, wantB: 1,
			want: []string{`"c0"`, "[DONE]"}, notWant: []string{`"error"`},
		},
		{
			name:  "idle before content fails over",
			retry: "{max_attempts: 3, backoff: 1ms, deadline: 10s}", timeouts: "{first_byte: 10s, idle: 150ms}",
			a: []handler{streamThenHang(0, nil)}, b: []handler{stream(1, 0, false)}, body: streamBody, wantStatus: http.StatusOK, wantA: 1, wantB: 1,
			want: []string{`"c0"`, "[DONE]"}, notWant: []string{`"error"`},
		},
		{
			name:  "idle after content ends the stream with an error event",
			retry: "{max_attempts: 3, backoff: 1ms, deadline: 10s}", timeouts: "{first_byte: 10s, idle: 150ms}",
			a: []handler{streamThenHang(1, nil)}, body: streamBody, wantStatus: http.StatusOK, wantA: 1, wantB: 0,
			want: []string{`"c0"`, `"error"`, `"code":504`, "failed mid-stream: timeout"}, notWant: []string{"[DONE]"},
		},
		{
			name:  "idle while reading a body fails over",
			retry: "{max_attempts: 3, backoff: 1ms, deadline: 10s}", timeouts: "{first_byte: 10s, idle: 150ms}",
			a: []handler{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"id":`)
				w.(http.Flusher).Flush()
				waitGone(r)
			}}, body: chatBody, wantStatus: http.StatusOK, wantA: 1, wantB: 1,
			want: []string{`"hi"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newUpstream(t, tt.a...)
			b := newUpstream(t, tt.b...)
			f := newFixture(t, timeoutTargets(a.srv.URL, b.srv.URL, tt.retry, tt.timeouts))
			resp, body := f.post(t, "/v1/chat/completions", tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if a.calls.Load() != tt.wantA || b.calls.Load() != tt.wantB {
				t.Fatalf("calls a=%d b=%d, want a=%d b=%d", a.calls.Load(), b.calls.Load(), tt.wantA, tt.wantB)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q: %q", s, body)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(body, s) {
					t.Errorf("body has %q: %q", s, body)
				}
			}
		})
	}
}

// TestClientGoneCancelsUpstream: a client that goes away mid-stream or
// while weir backs off ends the request (logged as 499) and, mid-stream,
// the upstream request too; no further attempt is made.
func TestClientGoneCancelsUpstream(t *testing.T) {
	tests := []struct {
		name     string
		a        func(http.ResponseWriter, *http.Request)
		retry    string
		body     string
		provider string
		// waitFirst reads the first content event before going away;
		// otherwise the client goes once the upstream was called.
		waitFirst bool
	}{
		{name: "mid-stream", retry: "{max_attempts: 3, backoff: 1ms, deadline: 10s}", body: streamBody, waitFirst: true},
		{name: "during backoff", a: status(500), retry: "{max_attempts: 3, backoff: 10s, max_backoff: 10s, deadline: 20s}", body: chatBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := make(chan struct{})
			called := make(chan struct{}, 1)
			h := tt.a
			if h == nil {
				h = streamThenHang(1, gone)
			}
			a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				called <- struct{}{}
				h(w, r)
			})
			b := newUpstream(t)
			f := newFixture(t, timeoutTargets(a.srv.URL, b.srv.URL, tt.retry, "{first_byte: 10s, idle: 10s}"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(tt.body))
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					defer resp.Body.Close()
					if tt.waitFirst {
						rd := bufio.NewReader(resp.Body)
						for err == nil {
							var line string
							line, err = rd.ReadString('\n')
							if strings.Contains(line, `"c0"`) {
								break
							}
						}
					}
				}
				done <- err
			}()
			select {
			case <-called:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream was never called")
			}
			if tt.waitFirst {
				if err := <-done; err != nil {
					t.Fatalf("reading the first event: %v", err)
				}
			}
			cancel()
			if tt.waitFirst {
				select {
				case <-gone:
				case <-time.After(10 * time.Second):
					t.Fatal("the upstream request was not cancelled when the client went away")
				}
			}
			c := f.metrics.Requests.WithLabelValues("openai.chat_completions", "m", "a", "499", "http/1.1")
			for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(c) != 1; {
				if time.Now().After(deadline) {
					t.Fatal("no request ended with 499 after the client went away")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n := b.calls.Load(); n != 0 {
				t.Fatalf("target b called %d times after the client went away", n)
			}
		})
	}
}
