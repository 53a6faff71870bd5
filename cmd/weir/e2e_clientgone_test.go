package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/weirtest"
)

// TestE2EClientGoneWhileUpstreamSilent: a client that hangs up on a stream
// while the upstream is silent is noticed at once (weir writes nothing to it
// then, so only the HTTP/1.1 server's hang-up watch can tell), and the
// request ends as 499 instead of waiting out the upstream's five-minute idle
// timeout.
func TestE2EClientGoneWhileUpstreamSilent(t *testing.T) {
	for _, halfClose := range []bool{false, true} {
		name := "close"
		if halfClose {
			name = "half-close"
		}
		t.Run(name, func(t *testing.T) {
			up, url := mock(t, mockupstream.Options{Words: 12, APIKey: upstreamKey})
			f, err := mockupstream.ParseFault("hang-after:1")
			if err != nil {
				t.Fatal(err)
			}
			if err := up.SetDefault(&f); err != nil {
				t.Fatal(err)
			}
			p := weirtest.Start(t, fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
retry: {max_attempts: 1}
providers:
  - {name: primary, type: openai, base_url: "%s/v1", api_key: "%s", timeouts: {first_byte: 5m, idle: 5m}}
models:
  - name: weir-test
    targets: [{provider: primary, model: mock-gpt}]
`, url, upstreamKey), weirtest.Options{})

			c, err := net.Dial("tcp", strings.TrimPrefix(p.URL("public"), "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: weir\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(chatStream), chatStream)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("no content event before the upstream went silent: %v", err)
				}
				if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"content"`) {
					break
				}
			}
			gone := time.Now()
			if halfClose {
				_ = c.(*net.TCPConn).CloseWrite()
			} else {
				_ = c.Close()
			}

			deadline := gone.Add(5 * time.Second)
			for {
				lines := p.AccessLog(1)
				if len(lines) == 1 {
					if got := lines[0]["status"]; got != float64(499) {
						t.Fatalf("access log status %v, want 499: %v", got, lines[0])
					}
					t.Logf("logged as 499 %v after the client went", time.Since(gone).Round(time.Millisecond))
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no access log line 5s after the client went; the upstream's idle timeout is 5m")
				}
			}
		})
	}
}
