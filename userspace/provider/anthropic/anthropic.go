package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
	schema "github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/sse"
)

// Anthropic client → Anthropic provider: native passthrough. The body is
// forwarded byte for byte except the top-level "model" value; responses and
// stream events are relayed unchanged while their usage is read.

func init() {
	register(provider.AnthropicMessages, func() provider.Translator { return &passthrough{} })
	register(provider.AnthropicCountTokens, func() provider.Translator { return &passthrough{count: true} })
}

// DefaultVersion is the anthropic-version sent when neither the client nor
// the provider configuration names one.
const DefaultVersion = "2023-06-01"

// Paths below the provider base URL ("https://api.anthropic.com", no /v1).
const (
	messagesPath    = "/v1/messages"
	countTokensPath = "/v1/messages/count_tokens"
)

type passthrough struct {
	count   bool
	usage   usageAcc
	stopped bool // message_stop seen
}

func (p *passthrough) Request(req *provider.Request, upstreamModel string) (*provider.Upstream, error) {
	body, err := replaceModel(req.Body, upstreamModel)
	if err != nil {
		return nil, &provider.BadRequestError{Message: err.Error()}
	}
	path := messagesPath
	if p.count {
		path = countTokensPath
	}
	return &provider.Upstream{Method: http.MethodPost, Path: path, Header: anthropicHeader(req.Header, true), Body: body}, nil
}

// anthropicHeader is the header set of a request to Anthropic: the client's
// anthropic-version (or DefaultVersion) and, for native clients, its
// anthropic-beta flags. The provider configuration's api_version overrides
// the version after this.
func anthropicHeader(client http.Header, native bool) http.Header {
	h := http.Header{"Anthropic-Version": {DefaultVersion}}
	if !native {
		return h
	}
	if v := client.Get("Anthropic-Version"); v != "" {
		h.Set("Anthropic-Version", v)
	}
	if betas := client.Values("Anthropic-Beta"); len(betas) > 0 {
		h["Anthropic-Beta"] = append([]string(nil), betas...)
	}
	return h
}

func (p *passthrough) Response(body []byte) ([]byte, provider.Usage, error) {
	if p.count {
		var c schema.CountTokensResponse
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, provider.Usage{}, fmt.Errorf("decode count_tokens response: %w", err)
		}
		// Counting is free at Anthropic: it consumes no tokens.
		return body, provider.Usage{}, nil
	}
	var r struct {
		Type  string       `json:"type"`
		Usage schema.Usage `json:"usage"`
		Error *schema.ErrorDetail
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, provider.Usage{}, fmt.Errorf("decode messages response: %w", err)
	}
	if r.Type == "error" && r.Error != nil {
		return nil, provider.Usage{}, upstreamError(*r.Error)
	}
	p.usage.set(r.Usage)
	return body, p.usage.get(), nil
}

func (p *passthrough) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	switch ev.Event {
	case schema.EventContentBlockDelta, schema.EventContentBlockStart, schema.EventContentBlockStop, schema.EventPing:
		// The bulk of a stream: relayed without decoding, since nothing in
		// them changes usage or the outcome.
		return provider.Chunk{Data: sse.AppendEvent(nil, ev), Content: ev.Event == schema.EventContentBlockDelta}, nil
	}
	var e schema.StreamEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return provider.Chunk{}, fmt.Errorf("decode stream event %q: %w", ev.Event, err)
	}
	name := ev.Event
	if name == "" {
		name = e.Type
	}
	switch e.Type {
	case schema.EventError:
		if e.Error == nil {
			return provider.Chunk{}, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "api_error", Message: "error event without an error object"}
		}
		return provider.Chunk{}, upstreamError(*e.Error)
	case schema.EventMessageStart:
		if e.Message != nil {
			p.usage.set(e.Message.Usage)
		}
	case schema.EventMessageDelta:
		if e.Usage != nil {
			p.usage.delta(*e.Usage)
		}
	case schema.EventMessageStop:
		p.stopped = true
	}
	return provider.Chunk{Data: sse.AppendEvent(nil, sse.Event{Event: name, Data: ev.Data}), Content: e.Type == schema.EventContentBlockDelta}, nil
}

func (p *passthrough) StreamEnd() ([]byte, error) {
	if !p.stopped {
		return nil, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream stream ended before message_stop"}
	}
	return nil, nil
}

func (p *passthrough) StreamError(status int, message string) []byte {
	return schema.ErrorEvent(status, message)
}

func (p *passthrough) Usage() provider.Usage { return p.usage.get() }

// Error relays an Anthropic error body unchanged and wraps anything else.
func (p *passthrough) Error(status int, body []byte) []byte {
	if _, ok := schema.ParseError(body); ok {
		return body
	}
	return schema.MarshalError(status, errorText(status, body))
}

// upstreamError turns an Anthropic error object into the provider error.
func upstreamError(e schema.ErrorDetail) *provider.UpstreamError {
	return &provider.UpstreamError{Status: schema.StatusOf(e.Type), Type: e.Type, Message: e.Message}
}

// usageAcc accumulates Anthropic usage from message_start and message_delta.
type usageAcc struct{ u schema.Usage }

func (a *usageAcc) set(u schema.Usage) { a.u = u }

// delta applies a message_delta usage: output_tokens is cumulative; newer API
// versions repeat the input counts, which then replace the start's.
func (a *usageAcc) delta(d schema.DeltaUsage) {
	if d.OutputTokens != nil {
		a.u.OutputTokens = *d.OutputTokens
	}
	if d.InputTokens != nil {
		a.u.InputTokens = *d.InputTokens
	}
	if d.CacheReadInputTokens != nil {
		a.u.CacheReadInputTokens = *d.CacheReadInputTokens
	}
	if d.CacheCreationInputTokens != nil {
		a.u.CacheCreationInputTokens = *d.CacheCreationInputTokens
	}
}

// get converts to weir's usage, whose InputTokens counts every input token
// (Anthropic's input_tokens excludes cache reads and writes).
func (a *usageAcc) get() provider.Usage {
	return provider.Usage{
		InputTokens:              a.u.InputTokens + a.u.CacheReadInputTokens + a.u.CacheCreationInputTokens,
		OutputTokens:             a.u.OutputTokens,
		CachedInputTokens:        a.u.CacheReadInputTokens,
		CacheCreationInputTokens: a.u.CacheCreationInputTokens,
	}
}

// errorText is the message of a provider error body that is not in the
// expected shape: its text, bounded, or the status text when empty.
func errorText(status int, body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		s = http.StatusText(status)
		if s == "" {
			s = fmt.Sprintf("upstream status %d", status)
		}
	}
	const max = 1024
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
