package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
)

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-addr", "127.0.0.1:0", "-words", "4", "-chunks", "2", "-key", "k", "-fault", "status:503,times=1"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	post := func() (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	// -fault is a default: every request gets it (times applies to queued faults only).
	for range 2 {
		if st, _ := post(); st != 503 {
			t.Fatalf("status %d, want the default fault's 503", st)
		}
	}
	resp, err := http.Post(url+"/_mock/faults", "application/json", strings.NewReader(`{"default":""}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st, m := post()
	msg, _ := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if st != 200 || msg["content"] != mockupstream.ReplyText(4) {
		t.Fatalf("status %d answer %v", st, m)
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d", c)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after the signal")
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-words", "x"}, {"-fault", "explode"}, {"extra"}, {"-fault", "reset", "-first-byte-delay", "1s"}} {
		if c := run(context.Background(), args, io.Discard, io.Discard); c != 2 {
			t.Errorf("run %v = %d, want 2", args, c)
		}
	}
}
