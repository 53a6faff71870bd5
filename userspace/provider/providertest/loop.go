package providertest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
)

// Upstream is a real HTTP upstream a loop talks to.
type Upstream struct {
	Client *http.Client
	// Base is the provider base URL (with /v1 for OpenAI-compatible ones).
	Base string
	// Auth is the provider's credential header.
	Auth http.Header
}

// Loop runs a two-turn tool conversation of a chat or Messages client
// through fresh translators against up (see LoopWith); every answer has to
// report its usage.
func Loop(t *testing.T, up Upstream, newT New, api provider.API, stream bool, model string, first map[string]any) (*Turn, *Turn) {
	t.Helper()
	send := func(t *testing.T, body []byte) []byte {
		t.Helper()
		tr, err := newT(api)
		if err != nil {
			t.Fatal(err)
		}
		req := &provider.Request{API: api, Body: body, Model: "alias", Stream: stream, IncludeUsage: true, Header: http.Header{}}
		res, err := Exchange(up.Client, up.Base, up.Auth, tr, req, model)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if res.Status != http.StatusOK || res.Err != nil {
			t.Fatalf("upstream answered %d, %v: %s", res.Status, res.Err, res.Body)
		}
		if res.Usage.InputTokens <= 0 || res.Usage.OutputTokens <= 0 {
			t.Errorf("usage not reported: %+v", res.Usage)
		}
		return res.Body
	}
	return LoopWith(t, send, api.Dialect(), stream, first)
}

// Send delivers one client request body and returns the client's answer
// (a JSON body, or the SSE stream), failing t on anything but success.
type Send func(t *testing.T, body []byte) []byte

// LoopWith runs a two-turn tool conversation of a chat or Messages client
// (dialect "openai" or "anthropic") over send: the first request (which must
// declare tools) has to come back with tool calls, and the second (the
// first's messages, the assistant answer exactly as the client got it, and a
// result for every call) with a plain answer. A translator that loses ids,
// signatures or ordering makes a strict upstream reject the second turn.
func LoopWith(t *testing.T, send Send, dialect string, stream bool, first map[string]any) (*Turn, *Turn) {
	t.Helper()
	if stream {
		// The proxy reads Stream from the body; passthroughs forward the body.
		first["stream"] = true
		if dialect == "openai" {
			first["stream_options"] = map[string]any{"include_usage": true}
		}
	}
	turn := func(body map[string]any) *Turn {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		answer := send(t, b)
		tu, err := ParseTurn(dialect, stream, answer)
		if err != nil {
			t.Fatalf("client answer: %v\n%s", err, answer)
		}
		return tu
	}
	t1 := turn(first)
	if len(t1.Tools) == 0 {
		t.Fatalf("first turn made no tool call: %+v", t1)
	}
	msgs := append([]any(nil), first["messages"].([]any)...)
	msgs = append(msgs, t1.Assistant)
	for _, r := range t1.ToolResults(dialect, "42") {
		msgs = append(msgs, r)
	}
	second := map[string]any{}
	for k, v := range first {
		second[k] = v
	}
	second["messages"] = msgs
	t2 := turn(second)
	if len(t2.Tools) != 0 || t2.Text == "" {
		t.Fatalf("second turn should answer in text: %+v", t2)
	}
	return t1, t2
}
