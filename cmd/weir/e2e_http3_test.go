package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/weir-gateway/weir/bench/mockupstream"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/internal/weirtest"
)

const h3Words = 12

// startHTTP3 runs weir with one self-signed TLS listener serving HTTP/3 in
// front of a mock upstream; env is added to weir's environment.
func startHTTP3(t *testing.T, opts mockupstream.Options, env ...string) (*weirtest.Proc, string) {
	t.Helper()
	_, url := mock(t, opts)
	cfg := strings.Replace(twoProviders(url, url, ""), `listeners: [{name: public, address: "127.0.0.1:0"}]`,
		`listeners: [{name: public, address: "127.0.0.1:0"}, {name: secure, address: "127.0.0.1:0", tls: {self_signed: true}, http3: true}]`, 1)
	p := weirtest.Start(t, cfg, weirtest.Options{Env: env})
	return p, "https://" + p.Listeners["secure"] + "/v1/chat/completions"
}

var insecureTLS = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}} //nolint:gosec // self-signed test certificate

// h3Client is quic-go's HTTP/3 client with its own QUIC connection.
func h3Client(t *testing.T) *http.Client {
	tr := &http3.Transport{TLSClientConfig: insecureTLS}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// h3Post sends body and returns the response with its body read; errors are
// returned (not fatal) so goroutines can use it.
func h3Post(c *http.Client, url, body string) (*http.Response, string, error) {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.ProtoMajor != 3 {
		return nil, "", fmt.Errorf("protocol %s, want HTTP/3", resp.Proto)
	}
	return resp, string(b), nil
}

// chatContent is the assistant text of a non-streamed OpenAI chat answer.
func chatContent(body string) (string, error) {
	var r struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			P int64 `json:"prompt_tokens"`
			C int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return "", fmt.Errorf("decode %q: %w", body, err)
	}
	if len(r.Choices) != 1 || r.Usage.P <= 0 || r.Usage.C != h3Words {
		return "", fmt.Errorf("choices %d usage %+v in %s", len(r.Choices), r.Usage, body)
	}
	return r.Choices[0].Message.Content, nil
}

// checkChat sends one non-streamed chat and checks the answer.
func checkChat(c *http.Client, url string) error {
	resp, body, err := h3Post(c, url, chat)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	got, err := chatContent(body)
	if err != nil {
		return err
	}
	if want := mockupstream.ReplyText(h3Words); got != want {
		return fmt.Errorf("content %q, want %q", got, want)
	}
	return nil
}

// streamContent joins the delta contents of an OpenAI chat stream that ends
// with [DONE] (joinContent without t, for goroutines).
func streamContent(body string) (string, error) {
	data := sseData(body)
	if len(data) == 0 || data[len(data)-1] != "[DONE]" {
		return "", fmt.Errorf("stream does not end with [DONE]: %q", body)
	}
	var b strings.Builder
	for _, d := range data[:len(data)-1] {
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			return "", fmt.Errorf("chunk %q: %w", d, err)
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
		}
	}
	return b.String(), nil
}

func TestE2EHTTP3(t *testing.T) {
	p, url := startHTTP3(t, mockupstream.Options{Words: h3Words})
	want := mockupstream.ReplyText(h3Words)

	t.Run("chat", func(t *testing.T) {
		if err := checkChat(h3Client(t), url); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		resp, body, err := h3Post(h3Client(t), url, chatStreamUsage)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		data := sseData(body)
		if len(data) < 3 || data[len(data)-1] != "[DONE]" {
			t.Fatalf("stream does not end with [DONE]: %q", body)
		}
		got, usage := joinContent(t, data)
		if got != want {
			t.Errorf("content %q, want %q", got, want)
		}
		if usage == nil || usage.P <= 0 || usage.C != h3Words {
			t.Errorf("usage %+v", usage)
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		resp, body, err := h3Post(h3Client(t), url, `{"model":"gpt-17","messages":[{"role":"user","content":"x"}]}`)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error *struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		if resp.StatusCode != 404 || json.Unmarshal([]byte(body), &e) != nil || e.Error == nil ||
			e.Error.Code != "model_not_found" || e.Error.Type == "" || !strings.Contains(e.Error.Message, "gpt-17") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("50 concurrent connections", func(t *testing.T) {
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			c := h3Client(t)
			wg.Go(func() {
				if err := checkChat(c, url); err != nil {
					errs[i] = err
					return
				}
				resp, body, err := h3Post(c, url, chatStream)
				if err != nil {
					errs[i] = err
					return
				}
				got, err := streamContent(body)
				if err != nil || resp.StatusCode != 200 || got != want {
					errs[i] = fmt.Errorf("stream: status %d content %q: %v", resp.StatusCode, got, err)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		}
	})

	// Every request above went through the same pipeline: access log and
	// metrics label them h3.
	h3Lines := 0
	for _, l := range p.AccessLog(103) {
		if l["protocol"] == "h3" {
			h3Lines++
		}
	}
	if h3Lines < 103 {
		t.Errorf("%d access log lines with protocol h3, want >= 103", h3Lines)
	}
	if !strings.Contains(p.Metrics(), `protocol="h3"`) {
		t.Error("h3 requests are not labelled in metrics")
	}
}

// TestE2EHTTP3DrainOnSIGTERM: a stream in flight when weir is told to stop
// runs to its end over HTTP/3, a new connection during the drain is refused
// (not left hanging in a handshake), then weir exits cleanly.
func TestE2EHTTP3DrainOnSIGTERM(t *testing.T) {
	p, url := startHTTP3(t, mockupstream.Options{Words: h3Words, ChunkDelay: 100 * time.Millisecond})
	resp, err := h3Client(t).Post(url, "application/json", strings.NewReader(chatStream))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if _, err := rd.ReadString('\n'); err != nil { // the stream has started
		t.Fatal(err)
	}
	p.Signal(syscall.SIGTERM)
	waitFor(t, func() bool {
		return strings.Contains(p.Stderr(), "shutting down") || strings.Contains(p.Stderr(), "draining")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ua, err := net.ResolveUDPAddr("udp", p.Listeners["secure"])
	if err != nil {
		t.Fatal(err)
	}
	// The listeners close right after the log line; a dial that slipped
	// in before is retried (bounded).
	var refused error
	for range 20 {
		c, err := quic.DialAddr(ctx, ua.String(), insecureTLS, &quic.Config{})
		if err != nil {
			refused = err
			break
		}
		c.CloseWithError(0, "")
		time.Sleep(50 * time.Millisecond)
	}
	var te *quic.TransportError
	if !errors.As(refused, &te) || te.ErrorCode != quic.ConnectionRefused {
		t.Errorf("new connection during the drain: %v, want CONNECTION_REFUSED", refused)
	}
	rest, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("stream cut by shutdown: %v", err)
	}
	if !strings.Contains(string(rest), "data: [DONE]") {
		t.Fatalf("stream did not finish: %q", rest)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("weir exit: %v\n%s", err, p.Stderr())
	}
}

// migrating is one QUIC connection that can move to a fresh client port,
// as after a NAT rebinding: the kernel's 4-tuple hash then picks a worker
// socket at random, and only steering by CID finds the owner.
type migrating struct {
	conn *quic.Conn
	http *http.Client
}

func dialMigrating(ctx context.Context, t *testing.T, addr string) (*migrating, error) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := tr.Dial(ctx, ua, insecureTLS, &quic.Config{})
	if err != nil {
		return nil, err
	}
	cc := (&http3.Transport{}).NewClientConn(conn)
	return &migrating{conn: conn, http: &http.Client{Transport: cc, Timeout: 10 * time.Second}}, nil
}

func (m *migrating) migrate(ctx context.Context, t *testing.T) error {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	path, err := m.conn.AddPath(tr)
	if err != nil {
		return err
	}
	if err := path.Probe(ctx); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return path.Switch()
}

// logLine returns the first JSON log line of weir with the message msg.
func logLine(t *testing.T, p *weirtest.Proc, msg string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(p.Stderr()))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no %q log line in:\n%s", msg, p.Stderr())
	return nil
}

func numbers(t *testing.T, v any) []float64 {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a list", v)
	}
	out := make([]float64, len(a))
	for i, x := range a {
		out[i], _ = x.(float64)
	}
	return out
}

// migrateAndChat runs n connections that each chat, move to a new client
// port, and chat twice more; it returns the first error of each.
func migrateAndChat(t *testing.T, addr, url string, n int) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	var conns []*quic.Conn
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			m, err := dialMigrating(ctx, t, addr)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			conns = append(conns, m.conn)
			mu.Unlock()
			if err := checkChat(m.http, url); err != nil {
				errs[i] = err
				return
			}
			if err := m.migrate(ctx, t); err != nil {
				errs[i] = fmt.Errorf("migrate: %w", err)
				return
			}
			for range 2 {
				if err := checkChat(m.http, url); err != nil {
					errs[i] = errors.Join(errors.New("after migration"), err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		c.CloseWithError(0, "")
	}
	return errs
}

// TestPrivilegedE2EHTTP3Steering runs weir with 4 worker sockets and the
// steering program, moves every connection to a new client port, and checks
// from weir's per-socket counters that each datagram carrying one of its
// CIDs was read by the socket of the slot that CID names.
func TestPrivilegedE2EHTTP3Steering(t *testing.T) {
	privileged.Require(t)
	const pinRoot = "/sys/fs/bpf/weir"
	if _, err := os.Stat(pinRoot); os.IsNotExist(err) {
		t.Cleanup(func() { os.Remove(pinRoot) }) // weir made it; gone if empty
	}
	p, url := startHTTP3(t, mockupstream.Options{Words: h3Words}, "WEIR_QUIC_WORKERS=4")
	w := logLine(t, p, "http3 workers")
	if w["workers"] != float64(4) || w["steered"] != true {
		t.Fatalf("http3 workers line: %v", w)
	}
	const n = 16
	for i, err := range migrateAndChat(t, p.Listeners["secure"], url, n) {
		if err != nil {
			t.Errorf("connection %d: %v", i, err)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("weir exit: %v", err)
	}
	// The last process of the address removes its pinned maps.
	if _, err := os.Stat(filepath.Join(pinRoot, "quic")); !os.IsNotExist(err) {
		t.Errorf("steering pins left under %s/quic (%v)", pinRoot, err)
	}
	s := logLine(t, p, "quic sockets closed")
	owned, misrouted, steered := numbers(t, s["owned"]), numbers(t, s["misrouted"]), numbers(t, s["kernel_steered"])
	var ownedSum, steeredSum float64
	busy := 0
	for i := range owned {
		if misrouted[i] != 0 {
			t.Errorf("socket %d read %v datagrams of other sockets' connections", i, misrouted[i])
		}
		if owned[i] > 0 {
			busy++
		}
		ownedSum += owned[i]
		steeredSum += steered[i]
	}
	if busy < 2 {
		t.Errorf("%d connections owned by %d of 4 sockets (owned %v)", n, busy, owned)
	}
	// The program and the sockets parse datagrams alike: each one a socket
	// read as carrying its own CID was steered there by the program (a
	// fallback would have left it to the hash).
	if steeredSum == 0 || steeredSum < ownedSum {
		t.Errorf("kernel steered %v, sockets read %v carrying their own CID", steered, owned)
	}
}

// TestE2EHTTP3SingleSocket: one worker means no program, one socket; it
// serves everything, connection migration included.
func TestE2EHTTP3SingleSocket(t *testing.T) {
	p, url := startHTTP3(t, mockupstream.Options{Words: h3Words}, "WEIR_QUIC_WORKERS=1")
	w := logLine(t, p, "http3 workers")
	if w["workers"] != float64(1) || w["steered"] != false {
		t.Fatalf("http3 workers line: %v", w)
	}
	for i, err := range migrateAndChat(t, p.Listeners["secure"], url, 4) {
		if err != nil {
			t.Errorf("connection %d: %v", i, err)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("weir exit: %v", err)
	}
	s := logLine(t, p, "quic sockets closed")
	if owned := numbers(t, s["owned"]); len(owned) != 1 || owned[0] == 0 {
		t.Errorf("owned %v", owned)
	}
}

// TestE2EHTTP3TenantsAndLimits: authentication, model access and the
// request limit answer over HTTP/3 exactly as over TCP.
func TestE2EHTTP3TenantsAndLimits(t *testing.T) {
	_, upstream := mock(t, mockupstream.Options{Words: 8})
	cfg := strings.Replace(tenantsConfig(upstream, "", 3), `listeners: [{name: public, address: "127.0.0.1:0"}]`,
		`listeners: [{name: public, address: "127.0.0.1:0"}, {name: secure, address: "127.0.0.1:0", tls: {self_signed: true}, http3: true}]`, 1)
	p := weirtest.Start(t, cfg, weirtest.Options{Env: []string{"TEAM_A_KEY=" + teamAKey}})
	url := "https://" + p.Listeners["secure"] + "/v1/chat/completions"
	c := h3Client(t)
	send := func(body, key string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 3 {
			t.Fatalf("protocol %s", resp.Proto)
		}
		return resp, string(b)
	}
	for _, tc := range []struct {
		name, body, key string
		status          int
		want            string
	}{
		{"no key", chat, "", 401, `"authentication_error"`},
		{"bad key", chat, "nope", 401, "invalid API key"},
		{"model not allowed", `{"model":"private-model","messages":[]}`, teamAKey, 403, `"permission_error"`},
		{"allowed", chat, teamAKey, 200, "mock reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(tc.body, tc.key)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("requests per minute", func(t *testing.T) {
		// 3 per minute; one was spent above. The fourth is refused.
		var last *http.Response
		var body string
		for range 3 {
			if last, body = send(chat, teamAKey); last.StatusCode == 429 {
				break
			}
		}
		if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" || !strings.Contains(body, `"error"`) {
			t.Fatalf("%d retry-after %q: %s", last.StatusCode, last.Header.Get("Retry-After"), body)
		}
	})
}

// TestE2EHTTP3Unprivileged runs weir without privileges (as nobody when the
// test runs as root): the kernel refuses the steering program, weir says so
// once and serves HTTP/3 on one socket.
func TestE2EHTTP3Unprivileged(t *testing.T) {
	_, upstream := mock(t, mockupstream.Options{Words: h3Words})
	dir, err := os.MkdirTemp("", "weir-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "weir")
	b, err := os.ReadFile(weirtest.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(twoProviders(upstream, upstream, ""), `listeners: [{name: public, address: "127.0.0.1:0"}]`,
		`listeners: [{name: secure, address: "127.0.0.1:0", tls: {self_signed: true}, http3: true}]`, 1)
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{bin, b, 0o755}, {filepath.Join(dir, "weir.yaml"), []byte(cfg), 0o644}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "weir.yaml"))
	cmd.Env = append(os.Environ(), "WEIR_QUIC_WORKERS=4")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan map[string]any, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		for range lines { // drain until weir closes stderr
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("weir exit: %v", err)
		}
	})
	var addr string
	warnings := 0
	var workers map[string]any
	timeout := time.After(30 * time.Second)
	for started := false; !started; {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("weir exited before it started")
			}
			switch m["msg"] {
			case "QUIC steering unavailable; serving HTTP/3 on one socket":
				warnings++
				if e, _ := m["err"].(string); !strings.Contains(e, "not allowed") {
					t.Errorf("fallback reason %q, want a permission error", e)
				}
			case "http3 workers":
				workers = m
			case "listening":
				addr, _ = m["address"].(string)
			case "weir started":
				started = true
			}
		case <-timeout:
			t.Fatal("weir not started after 30s")
		}
	}
	if warnings != 1 || workers["workers"] != float64(1) || workers["steered"] != false {
		t.Fatalf("%d fallback warnings, workers line %v", warnings, workers)
	}
	if err := checkChat(h3Client(t), "https://"+addr+"/v1/chat/completions"); err != nil {
		t.Fatal(err)
	}
}
