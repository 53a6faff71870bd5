package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
)

func startMock(t *testing.T, opts mockupstream.Options) (*mockupstream.Server, string) {
	t.Helper()
	s := mockupstream.New(opts)
	url, closeFn, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFn() })
	return s, url
}

func client(t *testing.T, proto string) *http.Client {
	t.Helper()
	c, closer, err := NewClient(proto, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	return c
}

const chat = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
const chatStream = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

func TestClosedLoop(t *testing.T) {
	for _, proto := range []string{HTTP1, H2C} {
		t.Run(proto, func(t *testing.T) {
			s, url := startMock(t, mockupstream.Options{Words: 4, MaxRecorded: -1})
			res, err := Run(context.Background(), Config{
				Request:     Request{URL: url + "/v1/chat/completions", Body: []byte(chat)},
				Client:      client(t, proto),
				Concurrency: 4, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK == 0 || res.ErrorCount() != 0 || res.Requests != res.OK || res.Latency.Count() != res.OK {
				t.Fatalf("result %+v", res)
			}
			if uint64(s.Count()) < res.Requests {
				t.Errorf("mock saw %d requests, loadgen recorded %d", s.Count(), res.Requests)
			}
			if res.Events != 0 || res.TTFB != nil || res.Mode != "closed" || res.Throughput() <= 0 {
				t.Errorf("non-streaming result %+v", res)
			}
		})
	}
}

func TestStreamMetrics(t *testing.T) {
	_, url := startMock(t, mockupstream.Options{Words: 5, MaxRecorded: -1})
	res, err := Run(context.Background(), Config{
		Request:     Request{URL: url + "/v1/chat/completions", Body: []byte(chatStream)},
		Client:      client(t, HTTP1),
		Concurrency: 2, Duration: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// role chunk + 5 content chunks + finish chunk + [DONE]
	const perStream = 8
	if res.OK == 0 || res.Events != res.OK*perStream || res.EventGap.Count() != res.OK*(perStream-1) || res.TTFB.Count() != res.OK {
		t.Fatalf("events %d gaps %d ttfb %d for %d streams", res.Events, res.EventGap.Count(), res.TTFB.Count(), res.OK)
	}
	if res.TTFB.Max() > res.Latency.Max() || res.Header.Min() > res.TTFB.Min() {
		t.Errorf("header %v ≤ ttfb %v ≤ total %v violated", res.Header.Min(), res.TTFB.Max(), res.Latency.Max())
	}
}

func TestOpenLoopCountsAndCoordinatedOmission(t *testing.T) {
	s, url := startMock(t, mockupstream.Options{MaxRecorded: -1})
	const delay = 50 * time.Millisecond
	if err := s.SetDefault(&mockupstream.Fault{Kind: mockupstream.FaultSlowFirstByte, Delay: delay}); err != nil {
		t.Fatal(err)
	}
	// 100/s for 200ms is 20 requests due 10ms apart; one slot serves one per
	// 50ms, so request k ends no earlier than (k+1)·50ms and its latency,
	// measured from when it was due, is at least 40ms·k + 50ms.
	res, err := Run(context.Background(), Config{
		Request: Request{URL: url + "/v1/chat/completions", Body: []byte(chat)},
		Client:  client(t, HTTP1), Concurrency: 1, Rate: 100, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || res.OK != 20 || res.Mode != "open" {
		t.Fatalf("requests %d ok %d mode %s, want 20 scheduled", res.Requests, res.OK, res.Mode)
	}
	if res.Late == 0 {
		t.Error("no request counted late behind a single slot")
	}
	if lowest := 40*time.Millisecond*19 + delay; res.Latency.Max() < lowest {
		t.Errorf("max latency %v hides the queue (at least %v)", res.Latency.Max(), lowest)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	s, url := startMock(t, mockupstream.Options{MaxRecorded: -1})
	for _, tc := range []struct{ fault, kind string }{
		{"status:503", "status 503"},
		{"reset", "connection reset"},
		{"reset-after:1", "body: connection reset"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			f, _ := mockupstream.ParseFault(tc.fault)
			_ = s.SetDefault(&f)
			res, err := Run(context.Background(), Config{
				Request: Request{URL: url + "/v1/chat/completions", Body: []byte(chatStream)},
				Client:  client(t, HTTP1), Concurrency: 2, Duration: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != 0 || res.Requests == 0 || res.Errors[tc.kind] != res.Requests {
				t.Errorf("errors %v for %d requests, want all %q", res.Errors, res.Requests, tc.kind)
			}
		})
	}
}

func TestReadEvents(t *testing.T) {
	body := "data: a\r\n\r\n: comment\n\nevent: x\ndata: b\ndata: c\n\n\ndata: " + strings.Repeat("z", 100) + "\n\n"
	var st streamStats
	n, err := readEvents(iotest.OneByteReader(strings.NewReader(body)), make([]byte, 16), &st)
	if err != nil || n != int64(len(body)) {
		t.Fatalf("read %d of %d: %v", n, len(body), err)
	}
	// the comment-only block (a keep-alive) is not an event
	if st.events != 3 || len(st.gaps) != 2 || st.first.IsZero() {
		t.Fatalf("events %d gaps %d", st.events, len(st.gaps))
	}
	if _, err := readEvents(iotest.ErrReader(io.ErrUnexpectedEOF), make([]byte, 16), &streamStats{}); err == nil {
		t.Error("read error was swallowed")
	}
}

func TestConfigErrors(t *testing.T) {
	c := client(t, HTTP1)
	for _, cfg := range []Config{
		{Concurrency: 1, Duration: time.Second},
		{Client: c, Duration: time.Second},
		{Client: c, Concurrency: 1},
		{Client: c, Concurrency: 1, Duration: time.Second, Rate: -1},
		{Client: c, Concurrency: 1, Duration: time.Second, Request: Request{URL: "::bad"}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted it", cfg)
		}
	}
	if _, _, err := NewClient("h9", 1); err == nil {
		t.Error("NewClient accepted h9")
	}
	if c, closer, err := NewClient(H3, 1); err != nil || c == nil || closer.Close() != nil {
		t.Errorf("NewClient(h3): %v", err)
	}
}

// TestConnections checks what the report says of a closed loop: over
// HTTP/1.1 each worker has a connection, over h2c they share one (the
// client dials one per worker at first and keeps one).
func TestConnections(t *testing.T) {
	type connID struct{}
	for _, tc := range []struct {
		proto string
		want  int
	}{{HTTP1, 8}, {H2C, 1}} {
		t.Run(tc.proto, func(t *testing.T) {
			var (
				next atomic.Int64
				mu   sync.Mutex
				used = map[int64]bool{}
			)
			p := new(http.Protocols)
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			srv := &http.Server{
				Protocols: p,
				ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
					return context.WithValue(ctx, connID{}, next.Add(1))
				},
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					mu.Lock()
					used[r.Context().Value(connID{}).(int64)] = true
					mu.Unlock()
					time.Sleep(time.Millisecond) // the workers overlap
					_, _ = io.WriteString(w, `{}`)
				}),
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })
			res, err := Run(context.Background(), Config{
				Request:     Request{URL: "http://" + ln.Addr().String() + "/v1/chat/completions", Body: []byte(chat)},
				Client:      client(t, tc.proto),
				Concurrency: 8, Duration: 100 * time.Millisecond, Warmup: 50 * time.Millisecond,
			})
			if err != nil || res.OK == 0 {
				t.Fatalf("run: %+v %v", res, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(used) != tc.want {
				t.Fatalf("8 workers sent requests on %d connections, want %d", len(used), tc.want)
			}
		})
	}
}
