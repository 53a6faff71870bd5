// Command h3 compares HTTP/3, HTTP/2 and HTTP/1.1 through weir to the same
// in-process mock upstream, side by side in one run: the same weir process,
// one TLS listener (h1 and h2 over TCP+TLS, h3 over QUIC on the same port),
// the same closed-loop load for each protocol in turn.
//
//	go run ./bench/h3 -duration 5s -concurrency 16
//	go run ./bench/h3 -weir bin/weir -workers 2 -rounds 2
//
// The clients are each protocol's usual one: HTTP/1.1 opens up to
// -concurrency TCP connections, HTTP/2 and HTTP/3 multiplex every request on
// one connection. Results go to stdout as a markdown table.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weir-gateway/weir/bench/hdr"
	"github.com/weir-gateway/weir/bench/loadgen"
	"github.com/weir-gateway/weir/bench/mockupstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "h3:", err)
		os.Exit(1)
	}
}

type options struct {
	weir        string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	words       int
	workers     string
	rounds      int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("h3", flag.ContinueOnError)
	fs.StringVar(&o.weir, "weir", "", "weir binary (default: build ./cmd/weir)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per protocol and scenario")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.concurrency, "concurrency", 16, "closed-loop workers")
	fs.IntVar(&o.words, "words", 64, "reply length in words (= streamed chunks)")
	fs.StringVar(&o.workers, "workers", "", "WEIR_QUIC_WORKERS for weir (default: its GOMAXPROCS)")
	fs.IntVar(&o.rounds, "rounds", 1, "repeat the protocol rotation (results per round)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "weir-h3bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.weir == "" {
		o.weir = filepath.Join(dir, "weir")
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", o.weir, "./cmd/weir").CombinedOutput(); err != nil {
			return fmt.Errorf("build weir: %w\n%s", err, b)
		}
	}

	mock := mockupstream.New(mockupstream.Options{Words: o.words, MaxRecorded: -1})
	mockURL, closeMock, err := mock.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer closeMock()

	w, err := startWeir(ctx, o, dir, mockURL)
	if err != nil {
		return err
	}
	defer w.stop()

	url := "https://" + w.addr + "/v1/chat/completions"
	scenarios := []struct{ name, body string }{
		{"chat", `{"model":"bench","messages":[{"role":"user","content":"hello"}]}`},
		{"stream", `{"model":"bench","stream":true,"messages":[{"role":"user","content":"hello"}]}`},
	}
	fmt.Fprintf(out, "weir %s, mock upstream %d words, closed loop c=%d, %v per cell (after %v warm-up)\n",
		w.workers, o.words, o.concurrency, o.duration, o.warmup)
	if w.line != "" {
		fmt.Fprintf(out, "weir: %s\n", strings.TrimSpace(w.line))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| round | scenario | protocol | req/s | p50 ms | p99 ms | TTFB p50 ms | TTFB p99 ms | errors |")
	fmt.Fprintln(out, "|---|---|---|---:|---:|---:|---:|---:|---:|")
	for round := 1; round <= o.rounds; round++ {
		for _, sc := range scenarios {
			for _, proto := range []string{loadgen.HTTP1, loadgen.H2, loadgen.H3} {
				client, closer, err := loadgen.NewClient(proto, o.concurrency)
				if err != nil {
					return err
				}
				res, err := loadgen.Run(ctx, loadgen.Config{
					Request:     loadgen.Request{URL: url, Body: []byte(sc.body), Header: map[string][]string{"Content-Type": {"application/json"}}},
					Client:      client,
					Concurrency: o.concurrency,
					Duration:    o.duration,
					Warmup:      o.warmup,
				})
				closer.Close()
				if err != nil {
					return fmt.Errorf("%s %s: %w", sc.name, proto, err)
				}
				fmt.Fprintf(out, "| %d | %s | %s | %.0f | %s | %s | %s | %s | %d |\n", round, sc.name, proto, res.Throughput(),
					ms(res.Latency, 0.5), ms(res.Latency, 0.99), ms(res.TTFB, 0.5), ms(res.TTFB, 0.99), res.ErrorCount())
			}
		}
	}
	return nil
}

func ms(h *hdr.Histogram, q float64) string {
	if h == nil || h.Count() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(h.Quantile(q))/1e6)
}

type weirProc struct {
	cmd     *exec.Cmd
	addr    string
	workers string
	line    string
	done    chan struct{}
}

func startWeir(ctx context.Context, o options, dir, mockURL string) (*weirProc, error) {
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: secure, address: "127.0.0.1:0", tls: {self_signed: true}, http3: true}]
admin: {address: "127.0.0.1:0"}
server: {shutdown_timeout: 2s}
log: {level: info, access: "off"}
retry: {max_attempts: 1}
providers:
  - {name: mock, type: openai, base_url: %q}
models:
  - name: bench
    targets: [{provider: mock, model: mock-gpt}]
dataplane: {mode: off}
`, mockURL+"/v1")
	path := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.weir, "-config", path)
	if o.workers != "" {
		cmd.Env = append(os.Environ(), "WEIR_QUIC_WORKERS="+o.workers)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &weirProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l struct {
				Msg      string `json:"msg"`
				Listener string `json:"listener"`
				Address  string `json:"address"`
				Workers  int    `json:"workers"`
				Steered  bool   `json:"steered"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			switch l.Msg {
			case "listening":
				if l.Listener == "secure" {
					w.addr = l.Address
				}
			case "http3 workers":
				w.workers = fmt.Sprintf("%d QUIC worker socket(s), steered=%v", l.Workers, l.Steered)
			case "QUIC steering unavailable; serving HTTP/3 on one socket":
				w.line = sc.Text()
			case "weir started":
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
		return w, nil
	case <-w.done:
		return nil, errors.New("weir exited before it started")
	case <-time.After(30 * time.Second):
		w.stop()
		return nil, errors.New("weir not started after 30s")
	}
}

func (w *weirProc) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}
