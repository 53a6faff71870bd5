// Command mockupstream serves the mock OpenAI / Anthropic / Gemini upstream
// of package bench/mockupstream on a TCP address, for benchmarks and manual
// tests.
//
//	mockupstream -addr 127.0.0.1:9099 -words 20 -chunks 20 -chunk-delay 5ms -key sk-test
//
// Faults are set at run time with POST /_mock/faults (see the package doc) or
// per request with the x-mock-fault header. It prints "listening on URL" once
// it accepts connections and exits cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mockupstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9099", "listen address (port 0 picks a free port)")
	words := fs.Int("words", mockupstream.DefaultWords, "reply length in words (one word is one output token)")
	replyBytes := fs.Int("bytes", 0, "reply length in bytes (overrides -words)")
	chunks := fs.Int("chunks", 0, "content chunks per stream (default: one per word; capped at the word count)")
	chunkDelay := fs.Duration("chunk-delay", 0, "pause between two content chunks")
	firstByte := fs.Duration("first-byte-delay", 0, "pause before every answer (a default slow-first-byte fault)")
	key := fs.String("key", "", "the only accepted API key (default: any)")
	model := fs.String("model", "", "model name in every answer (default: echo the request's)")
	models := fs.String("models", "", "comma-separated models listed by GET /v1/models")
	promptTokens := fs.Int("prompt-tokens", 0, "input token count of every answer (default: request bytes / 4)")
	cached := fs.Int("cached-tokens", 0, "input tokens reported as cached")
	record := fs.Int("record", 1000, "requests kept for GET /_mock/requests (-1: none)")
	fault := fs.String("fault", "", "default fault for every request, e.g. status:503 (see x-mock-fault)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mockupstream: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	opts := mockupstream.Options{
		Words: *words, ReplyBytes: *replyBytes, Chunks: *chunks, ChunkDelay: *chunkDelay,
		APIKey: *key, Model: *model, PromptTokens: *promptTokens, CachedTokens: *cached, MaxRecorded: *record,
	}
	if *record == 0 {
		opts.MaxRecorded = -1
	}
	if *models != "" {
		opts.Models = strings.Split(*models, ",")
	}
	s := mockupstream.New(opts)
	switch {
	case *fault != "" && *firstByte > 0:
		fmt.Fprintln(stderr, "mockupstream: -fault and -first-byte-delay are exclusive")
		return 2
	case *fault != "":
		f, err := mockupstream.ParseFault(*fault)
		if err != nil {
			fmt.Fprintln(stderr, "mockupstream:", err)
			return 2
		}
		_ = s.SetDefault(&f)
	case *firstByte > 0:
		if err := s.SetDefault(&mockupstream.Fault{Kind: mockupstream.FaultSlowFirstByte, Delay: *firstByte}); err != nil {
			fmt.Fprintln(stderr, "mockupstream:", err)
			return 2
		}
	}
	url, closeFn, err := s.Listen(*addr)
	if err != nil {
		fmt.Fprintln(stderr, "mockupstream:", err)
		return 1
	}
	fmt.Fprintln(stdout, "listening on", url)
	<-ctx.Done()
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("close: timed out")
	}
	if err != nil {
		fmt.Fprintln(stderr, "mockupstream:", err)
		return 1
	}
	return 0
}
