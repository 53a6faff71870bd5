package proxy

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

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
