// Package provider turns a client request in one API dialect into an upstream
// request in a provider's dialect, and the provider's answer back. Each
// client-API × provider-API pair lives in its own file; a Translator is created
// per attempt so a retry on another target translates again from the client's
// original bytes.
package provider

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/weir-gateway/weir/userspace/sse"
)

// API names a wire protocol spoken by a client.
type API string

// The client APIs weir serves.
const (
	OpenAIChat           API = "openai.chat_completions"
	OpenAICompletions    API = "openai.completions"
	OpenAIEmbeddings     API = "openai.embeddings"
	OpenAIResponses      API = "openai.responses"
	AnthropicMessages    API = "anthropic.messages"
	AnthropicCountTokens API = "anthropic.count_tokens"
)

// Dialect is the error and auth dialect of an API: "openai" or "anthropic".
func (a API) Dialect() string {
	if a == AnthropicMessages || a == AnthropicCountTokens {
		return "anthropic"
	}
	return "openai"
}

// Request is the client's request as weir received it. Translators must treat
// it as read-only: it is reused by every attempt.
type Request struct {
	API API
	// Body is the client's JSON body, exactly as sent.
	Body []byte
	// Valid reports that Body is known to be valid JSON (the proxy checked
	// it before routing): a translator need not check it again.
	Valid bool
	// Model is the client's model name (the alias routed on).
	Model string
	// Stream is true when the client asked for SSE.
	Stream bool
	// IncludeUsage is true when an OpenAI client asked for
	// stream_options.include_usage; weir always asks upstream and hides the
	// usage chunk from clients that did not.
	IncludeUsage bool
	// Header holds the client's request headers with credentials removed;
	// translators forward what the provider understands (e.g. anthropic-beta).
	Header http.Header
}

// Upstream is the request one attempt sends, relative to the provider's base URL.
type Upstream struct {
	Method string
	// Path is appended to the base URL path, e.g. "/chat/completions".
	Path string
	// Query is appended to the URL (without "?"), e.g. "alt=sse".
	Query string
	// Header is read only: a translator may hand the same map to every
	// request.
	Header http.Header
	Body   []byte
}

// Usage counts tokens of one exchange. Zero values mean unknown.
type Usage struct {
	InputTokens       int64
	OutputTokens      int64
	CachedInputTokens int64
	ReasoningTokens   int64
	// CacheCreationInputTokens is Anthropic's cache write count.
	CacheCreationInputTokens int64
}

// Total is input plus output tokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Chunk is what one upstream stream event becomes for the client.
type Chunk struct {
	// Data is zero or more complete, framed SSE events in the client's dialect.
	Data []byte
	// Content is true when Data carries model output (text, tool call,
	// reasoning): after the first such chunk the stream can no longer fail over.
	Content bool
}

// Translator converts one attempt between a client API and a provider API.
type Translator interface {
	// Request builds the upstream request for the target's model.
	Request(req *Request, upstreamModel string) (*Upstream, error)
	// Response converts a complete 2xx non-streaming upstream body.
	Response(body []byte) ([]byte, Usage, error)
	// StreamEvent converts one upstream SSE event. An error event from the
	// upstream is returned as an *UpstreamError.
	StreamEvent(ev sse.Event) (Chunk, error)
	// StreamEnd is called once when the upstream stream ended cleanly and
	// returns the client's closing events (for example "data: [DONE]").
	StreamEnd() ([]byte, error)
	// StreamError renders a terminal error event in the client's dialect,
	// sent when the stream cannot be completed after content started.
	StreamError(status int, message string) []byte
	// Usage reports the tokens seen so far (all of them once the exchange ended).
	Usage() Usage
	// Error converts a non-2xx upstream body into the client's dialect,
	// keeping the upstream message.
	Error(status int, body []byte) []byte
}

// ErrUnsupported marks a request the target cannot express; weir answers 400
// naming the feature rather than altering the request silently.
var ErrUnsupported = errors.New("not supported by the target provider")

// UnsupportedError names the feature a provider cannot express.
type UnsupportedError struct {
	Feature  string
	Provider string
}

// Error implements error.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s is not supported by provider type %s", e.Feature, e.Provider)
}

// Unwrap makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// BadRequestError is a client request the translator could not parse; weir
// answers 400 with Message.
type BadRequestError struct{ Message string }

// Error implements error.
func (e *BadRequestError) Error() string { return e.Message }

// UpstreamError is an error the provider reported inside a 2xx stream or body.
type UpstreamError struct {
	// Status is the HTTP status the error corresponds to (e.g. 529 overloaded → 503), 0 if unknown.
	Status  int
	Type    string
	Message string
}

// Error implements error.
func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream error (%s): %s", e.Type, e.Message)
}
