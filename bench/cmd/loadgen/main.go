// Command loadgen drives a running system with the benchmark's chat
// completion load and prints what it measured, for profiling one system at a
// time (pprof, perf) outside weirbench:
//
//	loadgen -url http://127.0.0.1:8080 -key sk-... -c 16 -d 10s
//	loadgen -url http://127.0.0.1:8080 -rate 2000 -c 64 -d 10s
//
// The request is weirbench's: RequestSize bytes, model mock-gpt, -words
// max_tokens, streamed with -stream.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/weir-gateway/weir/bench/harness"
	"github.com/weir-gateway/weir/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the system (the request goes to URL/v1/chat/completions)")
	key := fs.String("key", "", "bearer key to send (empty: none)")
	proto := fs.String("proto", loadgen.HTTP1, "protocol: h1, h2c, h2 or h3")
	conc := fs.Int("c", 16, "closed-loop workers, or the open-loop bound on requests in flight")
	rate := fs.Float64("rate", 0, "open-loop requests per second (0: closed loop)")
	dur := fs.Duration("d", 5*time.Second, "measured time")
	warmup := fs.Duration("warmup", time.Second, "unmeasured load first")
	words := fs.Int("words", 50, "reply length asked for (max_tokens)")
	stream := fs.Bool("stream", false, "ask for a stream")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc := harness.Scenario{Stream: *stream, Words: *words}
	header := http.Header{"Content-Type": {"application/json"}}
	if *key != "" {
		header.Set("Authorization", "Bearer "+*key)
	}
	client, closer, err := loadgen.NewClient(*proto, *conc)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	defer closer.Close()
	cfg := loadgen.Config{
		Request:     loadgen.Request{Method: http.MethodPost, URL: *url + "/v1/chat/completions", Header: header, Body: sc.Body()},
		Client:      client,
		Concurrency: *conc,
		Rate:        *rate,
		Duration:    *dur,
		Warmup:      *warmup,
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "req/s %.0f ok %d errors %d p50 %s p99 %s p99.9 %s\n", res.Throughput(), res.OK, res.ErrorCount(),
		res.Latency.Quantile(0.5), res.Latency.Quantile(0.99), res.Latency.Quantile(0.999))
	if res.TTFB != nil && res.TTFB.Count() > 0 {
		fmt.Fprintf(stdout, "ttfb p50 %s p99 %s\n", res.TTFB.Quantile(0.5), res.TTFB.Quantile(0.99))
	}
	for _, k := range slices.Sorted(maps.Keys(res.Errors)) {
		fmt.Fprintf(stdout, "error %s: %d\n", k, res.Errors[k])
	}
	if res.OK == 0 {
		return 1
	}
	return 0
}
