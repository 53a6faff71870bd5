package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/privileged"
)

// TestPrivilegedE2EHTTP3Upgrade upgrades a weir serving HTTP/3 (SIGUSR2)
// while a slow HTTP/3 stream is in flight on the old process and new HTTP/3
// connections keep arriving: the QUIC connection owned by the old
// generation keeps reaching the old process until its stream ends, and every
// new connection is served (by either process).
func TestPrivilegedE2EHTTP3Upgrade(t *testing.T) {
	privileged.Require(t)
	const words = 20
	_, url := mock(t, mockupstream.Options{Words: words, ChunkDelay: 100 * time.Millisecond})
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: secure, address: "127.0.0.1:0", tls: {self_signed: true}, http3: true}]
admin: {address: "127.0.0.1:0"}
server: {shutdown_timeout: 20s}
providers: [{name: primary, type: openai, base_url: "%s/v1"}]
models: [{name: weir-test, targets: [{provider: primary, model: mock-gpt}]}]
`, url)
	old := startOwned(t, cfg)
	target := "https://" + old.listener("secure") + "/v1/chat/completions"

	// The long stream, on a QUIC connection of the old process.
	longClient := h3Client(t)
	type result struct {
		body string
		err  error
	}
	long := make(chan result, 1)
	go func() {
		_, body, err := h3Post(longClient, target, chatStream)
		long <- result{body, err}
	}()
	time.Sleep(500 * time.Millisecond) // a few chunks in
	old.signal(syscall.SIGUSR2)

	// New connections during and after the hand-over.
	var failed, total atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			c := h3Client(t)
			_, body, err := h3Post(c, target, chat)
			total.Add(1)
			if err == nil && !strings.Contains(body, mockupstream.ReplyText(words)) {
				err = fmt.Errorf("unexpected body %q", body)
			}
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	r := <-long
	if r.err != nil {
		t.Fatalf("the stream in flight across the upgrade failed: %v\n%s", r.err, old.log())
	}
	got, err := streamContent(r.body)
	if err != nil || got != mockupstream.ReplyText(words) {
		t.Fatalf("stream across the upgrade: %q, %v", got, err)
	}
	t.Logf("HTTP/3 across SIGUSR2: long stream complete, %d of %d new connections failed", failed.Load(), total.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d new HTTP/3 connections failed during the upgrade; first: %v", failed.Load(), total.Load(), firstErr)
	}
	if err := old.wait(30 * time.Second); err != nil {
		t.Fatalf("old weir after SIGUSR2: %v\n%s", err, old.log())
	}
	pid := old.childPID(t)
	t.Cleanup(func() { stopPID(t, pid) })
	// Only the new process is left, and it serves HTTP/3.
	resp, body, err := h3Post(h3Client(t), target, chat)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, mockupstream.ReplyText(words)) {
		t.Fatalf("new process over HTTP/3: %v %s", err, body)
	}
}
