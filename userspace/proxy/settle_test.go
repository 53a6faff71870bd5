package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/snapshot"
)

// recordingAdmission admits everything and records what each ticket settles.
type recordingAdmission struct {
	mu      sync.Mutex
	settled []provider.Usage
}

type recordingTicket struct{ a *recordingAdmission }

func (t recordingTicket) Tenant() string       { return "t" }
func (t recordingTicket) Header(h http.Header) { h.Set("X-Ratelimit-Remaining-Requests", "9") }
func (t recordingTicket) Settle(u provider.Usage) {
	t.a.mu.Lock()
	t.a.settled = append(t.a.settled, u)
	t.a.mu.Unlock()
}

func (a *recordingAdmission) Admit(context.Context, *snapshot.Snapshot, *http.Request, *provider.Request) (Ticket, *APIError) {
	return recordingTicket{a}, nil
}

func (a *recordingAdmission) Models(s *snapshot.Snapshot, _ *http.Request) ([]string, *APIError) {
	return s.Routes.Names(nil), nil
}

// TestSettleCutStream: a stream cut by the upstream after content still
// settles the tokens it used, exactly once; a complete one settles all.
func TestSettleCutStream(t *testing.T) {
	tests := []struct {
		name      string
		up        []func(http.ResponseWriter, *http.Request)
		wantOut   int64
		wantError bool
	}{
		// echoTranslator counts one output token per event: the role chunk + 2 content chunks.
		{"cut after 2 chunks", []func(http.ResponseWriter, *http.Request){stream(2, 0, true)}, 3, true},
		{"complete", []func(http.ResponseWriter, *http.Request){stream(4, 0, false)}, 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newUpstream(t, tc.up...)
			b := newUpstream(t)
			f := newFixture(t, twoTargets(a.srv.URL, b.srv.URL))
			adm := &recordingAdmission{}
			f.h.Admission = adm
			resp, body := f.post(t, "/v1/chat/completions", streamBody)
			if resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "9" {
				t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
			}
			if got := strings.Contains(body, `"error"`); got != tc.wantError {
				t.Fatalf("error event %v, want %v: %q", got, tc.wantError, body)
			}
			adm.mu.Lock()
			defer adm.mu.Unlock()
			if len(adm.settled) != 1 || adm.settled[0].OutputTokens != tc.wantOut {
				t.Fatalf("settled %+v, want one settlement of %d output tokens", adm.settled, tc.wantOut)
			}
		})
	}
}

// holdingAdmission's tickets hold Settle until release is closed.
type holdingAdmission struct {
	recordingAdmission
	release chan struct{}
}

type holdingTicket struct {
	recordingTicket
	release chan struct{}
}

func (t holdingTicket) Settle(u provider.Usage) {
	<-t.release
	t.recordingTicket.Settle(u)
}

func (a *holdingAdmission) Admit(context.Context, *snapshot.Snapshot, *http.Request, *provider.Request) (Ticket, *APIError) {
	return holdingTicket{recordingTicket{&a.recordingAdmission}, a.release}, nil
}

// TestWholeAnswerLeavesBeforeSettle: a non-streaming answer reaches the
// client, with its Content-Length, while the bookkeeping after it (here a
// Settle that waits) has not finished.
func TestWholeAnswerLeavesBeforeSettle(t *testing.T) {
	up := newUpstream(t)
	f := newFixture(t, twoTargets(up.srv.URL, up.srv.URL))
	adm := &holdingAdmission{release: make(chan struct{})}
	f.h.Admission = adm
	released := false
	defer func() {
		if !released {
			close(adm.release)
		}
	}()
	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Post(f.srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp, string(b), err}
	}()
	select {
	case a := <-got:
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.resp.StatusCode != 200 || a.resp.ContentLength != int64(len(a.body)) || len(a.body) == 0 {
			t.Fatalf("status %d, Content-Length %d, body %q", a.resp.StatusCode, a.resp.ContentLength, a.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the answer waited for Settle")
	}
	close(adm.release)
	released = true
	deadline := time.Now().Add(5 * time.Second)
	for {
		adm.mu.Lock()
		n := len(adm.settled)
		adm.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d settlements, want 1", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWholeAnswerOneFrameOverHTTP2: over HTTP/2 a non-streaming answer
// ends with its stream, when the handler returns, so it is not flushed
// early: its body and the end of the stream leave in one DATA frame, not
// in a DATA frame and then an empty one.
func TestWholeAnswerOneFrameOverHTTP2(t *testing.T) {
	up := newUpstream(t)
	f := newFixture(t, twoTargets(up.srv.URL, up.srv.URL))
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	c, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "gw"},
		{":path", "/v1/chat/completions"}, {"content-type", "application/json"}, {"content-length", strconv.Itoa(len(chatBody))}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	if err := errors.Join(fr.WriteSettings(),
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}),
		fr.WriteData(1, true, []byte(chatBody))); err != nil {
		t.Fatal(err)
	}
	type dataFrame struct {
		n   int
		end bool
	}
	var data []dataFrame
	for {
		frame, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d DATA frames: %v", len(data), err)
		}
		if s, ok := frame.(*http2.SettingsFrame); ok && !s.IsAck() {
			_ = fr.WriteSettingsAck()
		}
		if frame.Header().StreamID != 1 {
			continue
		}
		if h, ok := frame.(*http2.HeadersFrame); ok && h.StreamEnded() {
			t.Fatal("the stream ended with its headers")
		}
		if d, ok := frame.(*http2.DataFrame); ok {
			data = append(data, dataFrame{len(d.Data()), d.StreamEnded()})
			if d.StreamEnded() {
				break
			}
		}
	}
	if len(data) != 1 || data[0].n == 0 {
		for i, d := range data {
			t.Logf("DATA %d: %d bytes, end of stream %v", i, d.n, d.end)
		}
		t.Fatalf("%d DATA frames, want the answer and the end of the stream in one", len(data))
	}
}
