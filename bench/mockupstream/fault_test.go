package mockupstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec string
		want Fault
		err  string
	}{
		{spec: "status:503", want: Fault{Kind: FaultStatus, Status: 503}},
		{spec: " status:429, retry-after=2 ,retry-after-ms=1500", want: Fault{Kind: FaultStatus, Status: 429, RetryAfter: 2, RetryAfterMS: 1500}},
		{spec: "reset", want: Fault{Kind: FaultReset}},
		{spec: "reset-after:3,model=gpt-x,times=2", want: Fault{Kind: FaultResetAfter, After: 3, Model: "gpt-x", Times: 2}},
		{spec: "slow-first-byte:1.5s", want: Fault{Kind: FaultSlowFirstByte, Delay: 1500 * time.Millisecond}},
		{spec: "chunk-delay:20ms", want: Fault{Kind: FaultChunkDelay, Delay: 20 * time.Millisecond}},
		{spec: "hang", want: Fault{Kind: FaultHang}},
		{spec: "hang-after:0", want: Fault{Kind: FaultHangAfter}},
		{spec: "malformed", want: Fault{Kind: FaultMalformed}},
		{spec: "sse-error", want: Fault{Kind: FaultSSEError}},
		{spec: "sse-error:4", want: Fault{Kind: FaultSSEError, After: 4}},
		{spec: "", err: "unknown kind"},
		{spec: "explode", err: "unknown kind"},
		{spec: "status", err: "needs a code"},
		{spec: "status:200", err: "want 400..599"},
		{spec: "status:abc", err: "want an integer"},
		{spec: "status:-500", err: "want an integer"},
		{spec: "slow-first-byte", err: "needs a duration"},
		{spec: "slow-first-byte:0s", err: "more than 0"},
		{spec: "chunk-delay:11m", err: "at most"},
		{spec: "chunk-delay:fast", err: "invalid duration"},
		{spec: "reset-after", err: "needs a chunk count"},
		{spec: "reset:3", err: "takes no value"},
		{spec: "reset,retry-after=1", err: "status faults only"},
		{spec: "status:500,colour=red", err: "unknown option"},
		{spec: "status:500,times", err: "not key=value"},
		{spec: "status:500,times=99999999999", err: "want an integer"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseFault(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseFault(%q) error %v, want one containing %q", tc.spec, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("ParseFault(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
			again, err := ParseFault(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip %q → %q → %+v, %v", tc.spec, got.String(), again, err)
			}
		})
	}
}

func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"status:503", "status:429,retry-after=2,retry-after-ms=10", "reset", "reset-after:3,model=m,times=2",
		"slow-first-byte:1s", "chunk-delay:5ms", "hang", "hang-after:1", "malformed", "sse-error:2", "status:500,model= a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseFault(spec)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ParseFault(%q) accepted an invalid fault: %v", spec, err)
		}
		again, err := ParseFault(got.String())
		if err != nil || again != got {
			t.Fatalf("round trip %q → %q → %+v, %v (want %+v)", spec, got.String(), again, err, got)
		}
	})
}

// streamCase is one streaming endpoint request, for the stream faults.
type streamCase struct {
	name, path, body string
	ep               endpoint
}

func streamCases() []streamCase {
	return []streamCase{
		{"chat", "/v1/chat/completions", `{"model":"m","stream":true,` + userHi + `}`, epChat},
		{"completions", "/v1/completions", `{"model":"m","prompt":"x","stream":true}`, epCompletions},
		{"responses", "/v1/responses", `{"model":"m","input":"x","stream":true}`, epResponses},
		{"messages", "/v1/messages", `{"model":"m","max_tokens":10,"stream":true,` + userHi + `}`, epMessages},
		{"gemini", "/v1beta/models/m:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"x"}]}]}`, epGeminiStream},
	}
}

func withFault(h map[string]string, spec string) map[string]string {
	out := map[string]string{FaultHeader: spec}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func TestStatusFaults(t *testing.T) {
	_, url := newMock(t, Options{APIKey: testKey})
	dialects := []struct {
		name, path, body string
		header           map[string]string
		shape            func(map[string]any) string
	}{
		{"openai", "/v1/chat/completions", `{"model":"m",` + userHi + `}`, openAIAuth,
			func(m map[string]any) string { return str(get(m, "error", "type")) }},
		{"anthropic", "/v1/messages", `{"model":"m","max_tokens":5,` + userHi + `}`, anthropicAuth,
			func(m map[string]any) string { return str(m["type"]) + "/" + str(get(m, "error", "type")) }},
		{"gemini", "/v1beta/models/m:generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`, geminiAuth,
			func(m map[string]any) string {
				return fmt.Sprintf("%v/%s", get(m, "error", "code"), str(get(m, "error", "status")))
			}},
	}
	want := map[string]map[int]string{
		"openai":    {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error", 422: "invalid_request_error", 429: "requests", 500: "server_error", 502: "server_error", 503: "server_error", 529: "server_error"},
		"anthropic": {400: "error/invalid_request_error", 401: "error/authentication_error", 404: "error/not_found_error", 422: "error/invalid_request_error", 429: "error/rate_limit_error", 500: "error/api_error", 502: "error/api_error", 503: "error/api_error", 529: "error/overloaded_error"},
		"gemini":    {400: "400/INVALID_ARGUMENT", 401: "401/UNAUTHENTICATED", 404: "404/NOT_FOUND", 422: "422/FAILED_PRECONDITION", 429: "429/RESOURCE_EXHAUSTED", 500: "500/INTERNAL", 502: "502/INTERNAL", 503: "503/UNAVAILABLE", 529: "529/UNAVAILABLE"},
	}
	for _, d := range dialects {
		for _, code := range []int{400, 401, 404, 422, 429, 500, 502, 503, 529} {
			t.Run(fmt.Sprintf("%s/%d", d.name, code), func(t *testing.T) {
				resp, b, err := call(t, nil, http.MethodPost, url+d.path, withFault(d.header, fmt.Sprintf("status:%d", code)), d.body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != code {
					t.Fatalf("status %d, want %d", resp.StatusCode, code)
				}
				if got := d.shape(mustJSON(t, b)); got != want[d.name][code] {
					t.Errorf("shape %q, want %q: %s", got, want[d.name][code], b)
				}
			})
		}
	}
	t.Run("retry-after", func(t *testing.T) {
		resp, _, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", withFault(openAIAuth, "status:429,retry-after=7"), `{}`)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("retry-after-ms") != "" {
			t.Errorf("status %d Retry-After %q retry-after-ms %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("retry-after-ms"))
		}
	})
	t.Run("retry-after-ms", func(t *testing.T) {
		resp, _, err := call(t, nil, http.MethodPost, url+"/v1/messages", withFault(anthropicAuth, "status:429,retry-after-ms=1500"), `{}`)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 429 || resp.Header.Get("retry-after-ms") != "1500" || resp.Header.Get("Retry-After") != "" {
			t.Errorf("status %d Retry-After %q retry-after-ms %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("retry-after-ms"))
		}
	})
}

// TestResetBeforeResponse checks with a raw socket that the connection is
// reset (RST, not an orderly close) before any byte of a response.
func TestResetBeforeResponse(t *testing.T) {
	_, url := newMock(t, Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"model":"m",` + userHi + `}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Mock-Fault: reset\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	if n != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %q, err %v; want 0 bytes and ECONNRESET", buf[:n], err)
	}

	resp, _, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "reset"}, body)
	if err == nil {
		t.Fatalf("http client got status %d, want an error", resp.StatusCode)
	}
}

// TestResetAfter checks that streams are cut by a reset after exactly N
// content chunks, and a non-streaming answer after part of its body.
func TestResetAfter(t *testing.T) {
	_, url := newMock(t, Options{Words: 6, Chunks: 3})
	for _, tc := range streamCases() {
		for _, after := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, after), func(t *testing.T) {
				resp, body, err := call(t, nil, http.MethodPost, url+tc.path, withFault(authFor(tc.ep), fmt.Sprintf("reset-after:%d", after)), tc.body)
				if resp == nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("want a 200 before the reset, got %v %v", resp, err)
				}
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("body read error %v, want ECONNRESET", err)
				}
				got := decodeAnswer(t, tc.ep, true, body)
				if got.contentChunks != after || got.done {
					t.Errorf("before the reset: %d content chunks (done %v), want %d: %s", got.contentChunks, got.done, after, body)
				}
			})
		}
	}
	t.Run("non-stream", func(t *testing.T) {
		resp, body, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "reset-after:0"}, `{"model":"m",`+userHi+`}`)
		if resp == nil || resp.StatusCode != http.StatusOK || err == nil {
			t.Fatalf("want 200 then a read error, got %v %v", resp, err)
		}
		if len(body) == 0 || json.Valid(body) {
			t.Errorf("want a partial body, got %q", body)
		}
	})
}

func TestSlowFirstByteAndChunkDelay(t *testing.T) {
	s, url := newMock(t, Options{Words: 4, Chunks: 4})
	const delay = 40 * time.Millisecond
	chat := `{"model":"m","stream":true,` + userHi + `}`
	t.Run("slow-first-byte", func(t *testing.T) {
		start := time.Now()
		resp, body, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "slow-first-byte:" + delay.String()}, chat)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		if el := time.Since(start); el < delay {
			t.Errorf("answered after %v, before the %v delay", el, delay)
		}
		if got := decodeAnswer(t, epChat, true, body); got.text != ReplyText(4) || !got.done {
			t.Errorf("after the delay the stream is incomplete: %+v", got)
		}
	})
	t.Run("slow-first-byte_header_timeout", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 20 * time.Millisecond}}
		defer client.CloseIdleConnections()
		_, _, err := call(t, client, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "slow-first-byte:10m"}, chat)
		if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
			t.Fatalf("want a response header timeout, got %v", err)
		}
	})
	t.Run("chunk-delay", func(t *testing.T) {
		start := time.Now()
		_, body, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "chunk-delay:" + delay.String()}, chat)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 3*delay {
			t.Errorf("4 chunks took %v, less than 3 delays of %v", el, delay)
		}
		if got := decodeAnswer(t, epChat, true, body); got.contentChunks != 4 || !got.done {
			t.Errorf("stream %+v", got)
		}
	})
	t.Run("chunk-delay_non_stream", func(t *testing.T) {
		start := time.Now()
		_, body, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "chunk-delay:" + delay.String()}, `{"model":"m",`+userHi+`}`)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < delay {
			t.Errorf("took %v, less than the delay", el)
		}
		if got := decodeAnswer(t, epChat, false, body); got.text != ReplyText(4) {
			t.Errorf("answer %+v", got)
		}
	})
	t.Run("options_chunk_delay", func(t *testing.T) {
		s2, url2 := newMock(t, Options{Words: 3, ChunkDelay: delay})
		start := time.Now()
		_, body, err := call(t, nil, http.MethodPost, url2+"/v1/messages", anthropicAuth, `{"model":"c","max_tokens":9,"stream":true,`+userHi+`}`)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 2*delay {
			t.Errorf("3 chunks took %v, less than 2 delays", el)
		}
		if got := decodeAnswer(t, epMessages, true, body); got.contentChunks != 3 || !got.done || s2.Count() != 1 {
			t.Errorf("stream %+v", got)
		}
	})
	_ = s
}

func TestHang(t *testing.T) {
	s, url := newMock(t, Options{Words: 3, Chunks: 3})
	t.Run("client_gives_up", func(t *testing.T) {
		client := &http.Client{Timeout: 50 * time.Millisecond}
		_, _, err := call(t, client, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "hang"}, `{}`)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("want a client timeout, got %v", err)
		}
	})
	t.Run("hang-after", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,`+userHi+`}`))
		req.Header.Set(FaultHeader, "hang-after:1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		var events []string
		for len(events) < 2 { // the role chunk, then the one content chunk
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "data: ") {
				events = append(events, line)
			}
		}
		if !strings.Contains(events[1], `"content":"mock"`) {
			t.Fatalf("second event %q, want the first content chunk", events[1])
		}
		got := make(chan error, 1)
		go func() {
			for {
				line, err := rd.ReadString('\n')
				if err != nil || strings.TrimSpace(line) != "" {
					got <- err
					return
				}
			}
		}()
		select {
		case err := <-got:
			t.Fatalf("stream went on after the hang point: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		if err := <-got; err == nil {
			t.Fatal("read after cancel succeeded")
		}
	})
	t.Run("close_releases", func(t *testing.T) {
		s3, url3 := newMock(t, Options{})
		done := make(chan error, 1)
		go func() {
			_, _, err := call(t, nil, http.MethodPost, url3+"/v1/chat/completions", map[string]string{FaultHeader: "hang"}, `{"model":"m",`+userHi+`}`)
			done <- err
		}()
		for i := 0; s3.Count() == 0; i++ {
			if i > 3000 {
				t.Fatal("request never arrived")
			}
			time.Sleep(time.Millisecond)
		}
		s3.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Error("a released hang looks like a complete answer")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Close did not release the hanging request")
		}
	})
	_ = s
}

func TestMalformed(t *testing.T) {
	_, url := newMock(t, Options{})
	resp, body, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "malformed"}, `{"model":"m",`+userHi+`}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if json.Valid(body) || len(body) == 0 {
		t.Errorf("body %q is valid JSON", body)
	}
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := call(t, nil, http.MethodPost, url+tc.path, withFault(authFor(tc.ep), "malformed"), tc.body)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
			events, err := parseSSE(body)
			if err != nil || len(events) == 0 {
				t.Fatalf("events %v, %v", events, err)
			}
			last := events[len(events)-1]
			if json.Valid([]byte(last.Data)) {
				t.Errorf("last event %q is valid JSON", last.Data)
			}
			for _, ev := range events[:len(events)-1] {
				if !json.Valid([]byte(ev.Data)) {
					t.Errorf("event before the malformed one is invalid: %q", ev.Data)
				}
			}
		})
	}
}

func TestSSEError(t *testing.T) {
	_, url := newMock(t, Options{Words: 5, Chunks: 5})
	want := map[string]func(sseEvent) bool{
		"chat": func(e sseEvent) bool {
			return e.Event == "" && str(get(mustJSON(t, []byte(e.Data)), "error", "type")) == "server_error"
		},
		"completions": func(e sseEvent) bool {
			return e.Event == "" && str(get(mustJSON(t, []byte(e.Data)), "error", "type")) == "server_error"
		},
		"responses": func(e sseEvent) bool {
			m := mustJSON(t, []byte(e.Data))
			return e.Event == "error" && str(m["type"]) == "error" && str(m["code"]) == "server_error"
		},
		"messages": func(e sseEvent) bool {
			return e.Event == "error" && str(get(mustJSON(t, []byte(e.Data)), "error", "type")) == "overloaded_error"
		},
		"gemini": func(e sseEvent) bool {
			return str(get(mustJSON(t, []byte(e.Data)), "error", "status")) == "INTERNAL"
		},
	}
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := call(t, nil, http.MethodPost, url+tc.path, withFault(authFor(tc.ep), "sse-error:2"), tc.body)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
			events, err := parseSSE(body)
			if err != nil || len(events) == 0 {
				t.Fatalf("events %v, %v", events, err)
			}
			last := events[len(events)-1]
			if !want[tc.name](last) {
				t.Errorf("last event %+v is not the provider's error event", last)
			}
			cut := body[:strings.LastIndex(string(body), "data: ")]
			if tc.ep == epResponses || tc.ep == epMessages {
				cut = body[:strings.LastIndex(string(body), "event: error")]
			}
			got := decodeAnswer(t, tc.ep, true, cut)
			if got.contentChunks != 2 || got.done {
				t.Errorf("before the error: %d content chunks (done %v), want 2", got.contentChunks, got.done)
			}
		})
	}
	resp, _, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "sse-error"}, `{"model":"m",`+userHi+`}`)
	if err != nil || resp.StatusCode != 500 {
		t.Errorf("non-streaming sse-error: %v %v, want 500", resp, err)
	}
}

func chatStatus(t *testing.T, url, model string, header map[string]string) int {
	t.Helper()
	resp, _, err := call(t, nil, http.MethodPost, url+"/v1/chat/completions", header, `{"model":"`+model+`",`+userHi+`}`)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func TestFaultQueue(t *testing.T) {
	s, url := newMock(t, Options{})
	statuses := func(model string, n int) string {
		var out []string
		for range n {
			out = append(out, fmt.Sprint(chatStatus(t, url, model, nil)))
		}
		return strings.Join(out, ",")
	}
	t.Run("fifo_times", func(t *testing.T) {
		s.Reset()
		if err := s.Enqueue(Fault{Kind: FaultStatus, Status: 500}, Fault{Kind: FaultStatus, Status: 503, Times: 2}); err != nil {
			t.Fatal(err)
		}
		if got := statuses("m", 4); got != "500,503,503,200" {
			t.Errorf("statuses %s", got)
		}
	})
	t.Run("default", func(t *testing.T) {
		s.Reset()
		if err := s.SetDefault(&Fault{Kind: FaultStatus, Status: 502}); err != nil {
			t.Fatal(err)
		}
		if err := s.Enqueue(Fault{Kind: FaultStatus, Status: 429}); err != nil {
			t.Fatal(err)
		}
		if got := statuses("m", 3); got != "429,502,502" {
			t.Errorf("statuses %s", got)
		}
		_ = s.SetDefault(nil)
		if got := statuses("m", 1); got != "200" {
			t.Errorf("after clearing the default: %s", got)
		}
	})
	t.Run("header_wins_and_keeps_queue", func(t *testing.T) {
		s.Reset()
		_ = s.Enqueue(Fault{Kind: FaultStatus, Status: 500})
		if got := chatStatus(t, url, "m", map[string]string{FaultHeader: "status:404"}); got != 404 {
			t.Errorf("header fault gave %d", got)
		}
		if got := statuses("m", 2); got != "500,200" {
			t.Errorf("queue after a header fault: %s", got)
		}
	})
	t.Run("model_filter", func(t *testing.T) {
		s.Reset()
		f, err := ParseFault("status:503,model=primary,times=2")
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Enqueue(f)
		if got := statuses("secondary", 2) + ";" + statuses("primary", 3); got != "200,200;503,503,200" {
			t.Errorf("statuses %s", got)
		}
	})
	t.Run("invalid_header", func(t *testing.T) {
		s.Reset()
		if got := chatStatus(t, url, "m", map[string]string{FaultHeader: "explode"}); got != 400 {
			t.Errorf("invalid fault header gave %d", got)
		}
	})
	t.Run("invalid_programmatic", func(t *testing.T) {
		if err := s.Enqueue(Fault{Kind: FaultStatus, Status: 200}); err == nil {
			t.Error("Enqueue accepted status 200")
		}
		if err := s.SetDefault(&Fault{Kind: "boom"}); err == nil {
			t.Error("SetDefault accepted an unknown kind")
		}
	})
	t.Run("recorded", func(t *testing.T) {
		s.Reset()
		_ = s.Enqueue(Fault{Kind: FaultStatus, Status: 429, RetryAfter: 1})
		statuses("m", 2)
		recs := s.Requests()
		if len(recs) != 2 || recs[0].Fault != "status:429,retry-after=1" || recs[1].Fault != "" {
			t.Errorf("recorded faults: %+v", recs)
		}
	})
}

func TestAdminAPI(t *testing.T) {
	s, url := newMock(t, Options{})
	post := func(path, body string) (int, map[string]any) {
		resp, b, err := call(t, nil, http.MethodPost, url+path, nil, body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	code, m := post("/_mock/faults", `{"enqueue":["status:500","status:429,retry-after=3"],"default":"status:503,model=x"}`)
	if code != 200 || fmt.Sprint(m["queued"]) != "[status:500 status:429,retry-after=3]" || m["default"] != "status:503,model=x" {
		t.Fatalf("POST faults: %d %v", code, m)
	}
	if got := chatStatus(t, url, "m", nil); got != 500 {
		t.Errorf("first request %d", got)
	}
	resp, _, err := call(t, nil, http.MethodGet, url+"/_mock/faults", nil, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	if q, d := s.Faults(); len(q) != 1 || q[0].Status != 429 || d == nil || d.Model != "x" {
		t.Errorf("faults after one request: %v %v", q, d)
	}
	if got := chatStatus(t, url, "x", nil); got != 429 {
		t.Errorf("second request %d", got)
	}
	if got := chatStatus(t, url, "x", nil); got != 503 {
		t.Errorf("default for model x gave %d", got)
	}
	if code, _ := post("/_mock/faults", `{"default":""}`); code != 200 {
		t.Errorf("clearing default: %d", code)
	}
	if got := chatStatus(t, url, "x", nil); got != 200 {
		t.Errorf("after clearing: %d", got)
	}
	for _, bad := range []string{`{"enqueue":["explode"]}`, `{"default":"status:1"}`, `{"unknown":1}`, `not json`} {
		if code, _ := post("/_mock/faults", bad); code != 400 {
			t.Errorf("POST %s: %d, want 400", bad, code)
		}
	}
	_ = s.Enqueue(Fault{Kind: FaultReset})
	resp, _, err = call(t, nil, http.MethodDelete, url+"/_mock/faults", nil, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	if q, d := s.Faults(); len(q) != 0 || d != nil {
		t.Errorf("DELETE left %v %v", q, d)
	}

	resp, b, err := call(t, nil, http.MethodGet, url+"/_mock/requests", nil, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	var recs []recordedJSON
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0].Fault != "status:500" || recs[0].Path != "/v1/chat/completions" || !strings.Contains(recs[0].Body, `"model":"m"`) {
		t.Errorf("requests: %+v", recs)
	}
	_, m = post("/_mock/reset", "")
	if m["ok"] != true || s.Count() != 0 || len(s.Requests()) != 0 {
		t.Errorf("reset: %v count %d", m, s.Count())
	}
	resp, b, _ = call(t, nil, http.MethodGet, url+"/_mock/count", nil, "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"count":0}` {
		t.Errorf("count: %s", b)
	}
	if code, _ := post("/_mock/nope", ""); code != 404 {
		t.Errorf("unknown admin path: %d", code)
	}
}

func TestRecorder(t *testing.T) {
	s, url := newMock(t, Options{MaxRecorded: 3})
	for i := range 5 {
		_, _, err := call(t, nil, http.MethodPost, fmt.Sprintf("%s/v1beta/models/g%d:generateContent?key=k&n=%d", url, i, i),
			map[string]string{"X-Trace": fmt.Sprint(i)}, fmt.Sprintf(`{"contents":[{"parts":[{"text":"%d"}]}]}`, i))
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := s.Requests()
	if s.Count() != 5 || len(recs) != 3 {
		t.Fatalf("count %d, %d recorded", s.Count(), len(recs))
	}
	for k, r := range recs {
		i := k + 2
		if r.Method != "POST" || r.Path != fmt.Sprintf("/v1beta/models/g%d:generateContent", i) || r.QueryValues().Get("n") != fmt.Sprint(i) ||
			r.Header.Get("X-Trace") != fmt.Sprint(i) || !strings.Contains(string(r.Body), fmt.Sprintf(`"text":"%d"`, i)) || r.Time.IsZero() {
			t.Errorf("record %d: %+v %s", k, r, r.Body)
		}
	}
	recs[0].Body[0] = 'X'
	recs[0].Header.Set("X-Trace", "changed")
	if again := s.Requests(); again[0].Body[0] != '{' || again[0].Header.Get("X-Trace") != "2" {
		t.Error("Requests returned the recorder's own buffers")
	}
	s.Reset()
	if s.Count() != 0 || len(s.Requests()) != 0 {
		t.Error("Reset kept requests")
	}

	off, url2 := newMock(t, Options{MaxRecorded: -1})
	_, _, _ = call(t, nil, http.MethodGet, url2+"/v1/models", nil, "")
	if off.Count() != 1 || len(off.Requests()) != 0 {
		t.Errorf("recording off: count %d, %d recorded", off.Count(), len(off.Requests()))
	}
}

func TestListenH2C(t *testing.T) {
	s := New(Options{Words: 3})
	url, closeFn, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFn() })
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	resp, body, err := call(t, client, http.MethodPost, url+"/v1/chat/completions", nil, `{"model":"m",`+userHi+`}`)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || decodeAnswer(t, epChat, false, body).text != ReplyText(3) {
		t.Errorf("proto %s body %s", resp.Proto, body)
	}
	// HTTP/2 cannot hijack: a reset aborts the stream instead.
	_, _, err = call(t, client, http.MethodPost, url+"/v1/chat/completions", map[string]string{FaultHeader: "reset-after:1"}, `{"model":"m","stream":true,`+userHi+`}`)
	if err == nil {
		t.Error("reset over HTTP/2 gave a complete answer")
	}
	if _, _, err := call(t, nil, http.MethodGet, url+"/v1/models", nil, ""); err != nil {
		t.Errorf("HTTP/1.1 on the same port: %v", err)
	}
}

// TestNoFaultForOtherRequestsWhileHanging guards the queue against a
// hanging request holding its lock.
func TestNoFaultForOtherRequestsWhileHanging(t *testing.T) {
	s, url := newMock(t, Options{})
	_ = s.Enqueue(Fault{Kind: FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"m",`+userHi+`}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	for i := 0; s.Count() == 0; i++ {
		if i > 3000 {
			t.Fatal("hanging request never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if got := chatStatus(t, url, "m", nil); got != 200 {
		t.Errorf("request beside a hanging one: %d", got)
	}
}
