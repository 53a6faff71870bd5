package hotpath

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	idleStreams = flag.Int("idle.streams", 2000, "streams BenchmarkIdleStreams holds open")
	idleProfile = flag.String("idle.heapprofile", "", "write the live heap with every idle stream open to this file (go tool pprof -sample_index=inuse_space)")
)

// heldUpstreamEnv makes the test binary a held upstream (see TestMain):
// the upstream's memory must not count as weir's.
const heldUpstreamEnv = "WEIR_HOTPATH_HELD_UPSTREAM"

func TestMain(m *testing.M) {
	if os.Getenv(heldUpstreamEnv) == "1" {
		if err := runHeldUpstream(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// heldHead and heldChunk are what the held upstream answers every request
// with: the head of a chunked event stream and one chunk with the role
// event and the first content event, after which it sends nothing more.
const (
	heldHead   = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
	heldEvents = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}` + "\n\n" +
		`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-gpt","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}],"usage":null}` + "\n\n"
)

// runHeldUpstream serves on a loopback port (printed on stdout) until
// stdin closes: every request gets heldHead and one chunk of heldEvents,
// then the connection stays open and silent until the client closes it.
func runHeldUpstream() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("held upstream: %w", err)
	}
	fmt.Println(ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	answer := heldHead + strconv.FormatInt(int64(len(heldEvents)), 16) + "\r\n" + heldEvents + "\r\n"
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("held upstream: %w", err)
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			tp := textproto.NewReader(br)
			if _, err := tp.ReadLine(); err != nil {
				return
			}
			h, err := tp.ReadMIMEHeader()
			if err != nil {
				return
			}
			n, _ := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
			if _, err := io.CopyN(io.Discard, br, n); err != nil {
				return
			}
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, br)
		}()
	}
}

// startHeldUpstream runs the held upstream in a child process and returns
// its base URL.
func startHeldUpstream(tb testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), heldUpstreamEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("held upstream: %v", err)
	}
	return "http://" + strings.TrimSpace(addr) + "/v1"
}

// idleWriter is the client side of one idle stream: it keeps the headers
// and drops the body, and reports the first flush (content has left).
type idleWriter struct {
	h       http.Header
	status  int
	flushed chan struct{}
	once    sync.Once
}

func (w *idleWriter) Header() http.Header         { return w.h }
func (w *idleWriter) WriteHeader(code int)        { w.status = code }
func (w *idleWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *idleWriter) Flush()                      { w.once.Do(func() { close(w.flushed) }) }

// idleRun is the cost of n idle streams.
type idleRun struct {
	heap, stack float64 // bytes per stream
	goroutines  float64 // per stream
}

// openIdle opens n streams through h (the upstream holds each after its
// first content chunk), measures the heap and stacks they hold after a
// GC, and closes them. The requests and writers are made before the first
// measurement: they stand for what the HTTP server holds, not weir.
func openIdle(tb testing.TB, h http.Handler, n int, profile string) idleRun {
	// Without stream_options: weir adds include_usage, so the upstream
	// body is a translated copy, as for most clients.
	body := bytes.Replace(requestBody(true), []byte(`,"stream_options":{"include_usage":true}`), nil, 1)
	type stream struct {
		r      *http.Request
		w      *idleWriter
		cancel context.CancelFunc
		done   chan struct{}
	}
	streams := make([]stream, n)
	for i := range streams {
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body)).WithContext(ctx)
		r.Header.Set("Content-Type", "application/json")
		streams[i] = stream{r: r, w: &idleWriter{h: http.Header{}, flushed: make(chan struct{})}, cancel: cancel, done: make(chan struct{})}
	}
	defer func() {
		for _, s := range streams {
			s.cancel()
		}
		for _, s := range streams {
			<-s.done
		}
	}()
	before, g0 := memNow()
	// At most 64 upstream connections being opened at once, so the
	// upstream's accept queue never overflows.
	opening := make(chan struct{}, 64)
	for i := range streams {
		s := streams[i]
		opening <- struct{}{}
		go func() {
			defer close(s.done)
			h.ServeHTTP(s.w, s.r)
		}()
		select {
		case <-s.w.flushed:
		case <-s.done:
			tb.Fatalf("stream %d ended before its first chunk: status %d", i, s.w.status)
		case <-time.After(30 * time.Second):
			tb.Fatalf("stream %d: no first chunk in 30s", i)
		}
		<-opening
	}
	// Let every relay go back to waiting for its upstream.
	time.Sleep(200 * time.Millisecond)
	after, g1 := memNow()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			tb.Fatal(err)
		}
		err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
		if err != nil {
			tb.Fatal(err)
		}
	}
	for i, s := range streams {
		select {
		case <-s.done:
			tb.Fatalf("stream %d ended while idle: status %d", i, s.w.status)
		default:
		}
	}
	return idleRun{
		heap:       float64(after.HeapInuse-before.HeapInuse) / float64(n),
		stack:      float64(after.StackInuse-before.StackInuse) / float64(n),
		goroutines: float64(g1-g0) / float64(n),
	}
}

func memNow() (runtime.MemStats, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// BenchmarkIdleStreams holds -idle.streams streams open through the whole
// pipeline as weir-full runs it (rate limits, metrics, access log; weir's
// upstream connection pool over loopback to an upstream in another
// process that pauses after the first content chunk) and reports the live
// heap (heap-B/stream) and goroutine stacks (stack-B/stream) each costs:
// issue 10's idle-stream goal without the HTTP server's share.
//
//	go test -run '^$' -bench IdleStreams -benchtime 1x ./bench/hotpath
func BenchmarkIdleStreams(b *testing.B) {
	if *idleProfile != "" {
		// Every allocation sampled: the profile is read per stream.
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		b.Cleanup(func() { runtime.MemProfileRate = old })
	}
	h := newPipeline(b, pipelineOptions{baseURL: startHeldUpstream(b), limits: true})
	var run idleRun
	for b.Loop() {
		run = openIdle(b, h, *idleStreams, *idleProfile)
	}
	b.ReportMetric(run.heap, "heap-B/stream")
	b.ReportMetric(run.stack, "stack-B/stream")
	b.ReportMetric(run.goroutines, "goroutines/stream")
}

// TestIdleStreams checks what BenchmarkIdleStreams measures: streams that
// got their first chunk stay open and idle until the client goes.
func TestIdleStreams(t *testing.T) {
	h := newPipeline(t, pipelineOptions{baseURL: startHeldUpstream(t), limits: true})
	run := openIdle(t, h, 20, "")
	if run.goroutines < 1 {
		t.Fatalf("%.2f goroutines per idle stream, want at least the handler's", run.goroutines)
	}
}
