package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"weak"

	"github.com/weir-gateway/weir/userspace/provider"
)

// bodyWatch is an echoTranslator that sends a copy of the client's body
// upstream (as translators that rewrite it do) and keeps weak pointers to
// both bodies.
type bodyWatch struct {
	echoTranslator
	mu               sync.Mutex
	client, upstream weak.Pointer[byte]
}

func (b *bodyWatch) Request(req *provider.Request, model string) (*provider.Upstream, error) {
	u, err := b.echoTranslator.Request(req, model)
	if err != nil {
		return nil, err
	}
	u.Body = bytes.Clone(u.Body)
	b.mu.Lock()
	b.client, b.upstream = weak.Make(&req.Body[0]), weak.Make(&u.Body[0])
	b.mu.Unlock()
	return u, nil
}

// TestIdleStreamHoldsNoBodies: once a stream has sent content (no
// failover is possible), neither the client's body nor the upstream body
// is reachable any more, so a stream that idles for minutes does not hold
// them.
func TestIdleStreamHoldsNoBodies(t *testing.T) {
	release := make(chan struct{})
	a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"role\":\"assistant\"}\n\ndata: {\"content\":\"c0\"}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
			_, _ = io.WriteString(w, "data: [DONE]\n\n")
		case <-r.Context().Done():
		}
	})
	tr := &bodyWatch{}
	f := newFixtureWith(t, twoTargets(a.srv.URL, a.srv.URL), func() provider.Translator { return tr })
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 4096) + `"}]}`
	resp, err := http.Post(f.srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("before the first content event: %v", err)
		}
		if strings.Contains(line, `"c0"`) {
			break
		}
	}
	tr.mu.Lock()
	client, upstream := tr.client, tr.upstream
	tr.mu.Unlock()
	for i := 0; client.Value() != nil || upstream.Value() != nil; i++ {
		if i == 10 {
			t.Fatalf("an idle stream still holds the client body (%v) or the upstream body (%v)", client.Value() != nil, upstream.Value() != nil)
		}
		runtime.GC()
	}
	close(release)
	rest, _ := io.ReadAll(rd)
	if !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("stream did not end cleanly: %q", rest)
	}
}
