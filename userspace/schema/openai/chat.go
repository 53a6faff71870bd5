// Package openai holds the wire types of the OpenAI API as weir speaks it to
// clients and to OpenAI-compatible upstreams: chat completions, completions,
// embeddings, the Responses API, the models list and the error envelope.
// Fields that take more than one JSON shape are json.RawMessage or a small
// union type with its own (Un)MarshalJSON. It imports only the standard library.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Message roles.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Finish reasons of a choice.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishFunctionCall  = "function_call"
)

// ChatCompletionRequest is the body of POST /v1/chat/completions.
type ChatCompletionRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`

	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`

	MaxTokens           *int64   `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64   `json:"max_completion_tokens,omitempty"`
	Temperature         *float64 `json:"temperature,omitempty"`
	TopP                *float64 `json:"top_p,omitempty"`
	N                   *int64   `json:"n,omitempty"`
	// Stop is a string or an array of up to 4 strings.
	Stop             json.RawMessage    `json:"stop,omitempty"`
	PresencePenalty  *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64           `json:"frequency_penalty,omitempty"`
	LogitBias        map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs         *bool              `json:"logprobs,omitempty"`
	TopLogprobs      *int64             `json:"top_logprobs,omitempty"`
	Seed             *int64             `json:"seed,omitempty"`
	User             string             `json:"user,omitempty"`

	Tools []Tool `json:"tools,omitempty"`
	// ToolChoice is "none", "auto", "required" or a ToolChoiceFunction object.
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`

	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	// ReasoningEffort is "minimal", "low", "medium" or "high" for reasoning models.
	ReasoningEffort string            `json:"reasoning_effort,omitempty"`
	ServiceTier     string            `json:"service_tier,omitempty"`
	Store           *bool             `json:"store,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Modalities      []string          `json:"modalities,omitempty"`
	Audio           json.RawMessage   `json:"audio,omitempty"`
	Prediction      json.RawMessage   `json:"prediction,omitempty"`
	// Functions and FunctionCall are the deprecated predecessors of Tools and ToolChoice.
	Functions    []FunctionDefinition `json:"functions,omitempty"`
	FunctionCall json.RawMessage      `json:"function_call,omitempty"`
}

// ChatRequestFields are the top-level keys ChatCompletionRequest models;
// translators to other providers reject any other key by name instead of
// dropping it silently.
var ChatRequestFields = map[string]bool{
	"model": true, "messages": true, "stream": true, "stream_options": true,
	"max_tokens": true, "max_completion_tokens": true, "temperature": true, "top_p": true,
	"n": true, "stop": true, "presence_penalty": true, "frequency_penalty": true,
	"logit_bias": true, "logprobs": true, "top_logprobs": true, "seed": true, "user": true,
	"tools": true, "tool_choice": true, "parallel_tool_calls": true, "response_format": true,
	"reasoning_effort": true, "service_tier": true, "store": true, "metadata": true,
	"modalities": true, "audio": true, "prediction": true, "functions": true, "function_call": true,
}

// ErrStopType is StopSequences' error for a stop of another JSON type.
var ErrStopType = errors.New("stop must be a string or an array of strings")

// StopSequences decodes Stop, which is a string or an array of strings; an
// absent or null stop is nil.
func (r *ChatCompletionRequest) StopSequences() ([]string, error) {
	raw := bytes.TrimSpace(r.Stop)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, ErrStopType
	}
	return many, nil
}

// StreamOptions are the options of a streaming request.
type StreamOptions struct {
	// IncludeUsage asks for a final chunk with empty choices and the usage.
	IncludeUsage bool `json:"include_usage,omitempty"`
}

// ChatMessage is one message of a conversation, in a request or as the
// message of a response choice.
type ChatMessage struct {
	Role string `json:"role"`
	// Content is null for an assistant message that only calls tools.
	Content Content `json:"content"`
	Name    string  `json:"name,omitempty"`
	// Refusal is set on assistant messages the model refused to answer.
	Refusal string `json:"refusal,omitempty"`
	// ReasoningContent is the reasoning text of DeepSeek-style reasoning
	// models (also sent by vLLM and others); OpenAI itself does not return it.
	ReasoningContent string `json:"reasoning_content,omitempty"`
	// Reasoning is the same as ReasoningContent under the name OpenRouter and
	// newer vLLM use.
	Reasoning  string     `json:"reasoning,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	// FunctionCall is the deprecated single function call of an assistant message.
	FunctionCall *FunctionCall `json:"function_call,omitempty"`
	// Annotations are url citations of search-enabled models.
	Annotations json.RawMessage `json:"annotations,omitempty"`
	Audio       json.RawMessage `json:"audio,omitempty"`
}

// Content is a message content: a string (IsString), an array of parts, or
// null (the zero value).
type Content struct {
	Text     string
	IsString bool
	Parts    []ContentPart
}

// TextContent returns a string content.
func TextContent(s string) Content { return Content{Text: s, IsString: true} }

// PartsContent returns an array content.
func PartsContent(parts ...ContentPart) Content {
	if parts == nil {
		parts = []ContentPart{}
	}
	return Content{Parts: parts}
}

// IsNull reports whether the content is null or absent.
func (c Content) IsNull() bool { return !c.IsString && c.Parts == nil }

// JoinText returns the string content, or the text (and refusal) parts
// concatenated; other parts contribute nothing.
func (c Content) JoinText() string {
	if c.IsString {
		return c.Text
	}
	var b strings.Builder
	for _, p := range c.Parts {
		switch p.Type {
		case PartText:
			b.WriteString(p.Text)
		case PartRefusal:
			b.WriteString(p.Refusal)
		}
	}
	return b.String()
}

// UnmarshalJSON accepts a string, an array of content parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = Content{}
	switch {
	case len(b) > 0 && b[0] == '"':
		c.IsString = true
		return json.Unmarshal(b, &c.Text)
	case len(b) > 0 && b[0] == '[':
		c.Parts = []ContentPart{}
		return json.Unmarshal(b, &c.Parts)
	case bytes.Equal(b, []byte("null")):
		return nil
	}
	return errors.New("content must be a string, an array of content parts or null")
}

// MarshalJSON writes a string when IsString, the parts when Parts is
// non-nil, null otherwise.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.IsString:
		return json.Marshal(c.Text)
	case c.Parts != nil:
		return json.Marshal(c.Parts)
	}
	return []byte("null"), nil
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one part of an array content; which field is set depends on Type.
type ContentPart struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *File       `json:"file,omitempty"`
	Refusal    string      `json:"refusal,omitempty"`
}

// MarshalJSON always writes "text" for a text part, even when empty, as the
// API requires the field.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	if p.Type == PartText {
		return json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{p.Type, p.Text})
	}
	type plain ContentPart
	return json.Marshal(plain(p))
}

// ImageURL is an image part: an https URL or a data: URL with base64 bytes.
type ImageURL struct {
	URL string `json:"url"`
	// Detail is "auto", "low" or "high".
	Detail string `json:"detail,omitempty"`
}

// InputAudio is an audio part.
type InputAudio struct {
	Data string `json:"data"`
	// Format is "wav" or "mp3".
	Format string `json:"format"`
}

// File is a file part: an uploaded file id or inline base64 data.
type File struct {
	FileID   string `json:"file_id,omitempty"`
	FileData string `json:"file_data,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// Tool is a tool definition; Type is "function".
type Tool struct {
	Type     string             `json:"type"`
	Function FunctionDefinition `json:"function"`
}

// FunctionDefinition describes a function the model may call.
type FunctionDefinition struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is a JSON Schema object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Strict     *bool           `json:"strict,omitempty"`
}

// Tool choice modes (the string forms of tool_choice).
const (
	ToolChoiceNone     = "none"
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
)

// ToolChoiceFunction is the object form of tool_choice forcing one function.
type ToolChoiceFunction struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// ToolCall is a call of a tool in an assistant message.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is a function name with its arguments, a JSON object encoded
// as a string (possibly a fragment in a stream delta).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ErrArgumentsNotObject is ArgumentsObject's error.
var ErrArgumentsNotObject = errors.New("must be a JSON object")

// ArgumentsObject returns the complete arguments of a call as the JSON object
// other APIs want (Anthropic input, Gemini args): empty or blank arguments
// are {}, anything but a JSON object is ErrArgumentsNotObject. The bytes are
// returned unchanged.
func (f FunctionCall) ArgumentsObject() (json.RawMessage, error) {
	if strings.TrimSpace(f.Arguments) == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(f.Arguments), &obj); err != nil || obj == nil {
		return nil, ErrArgumentsNotObject
	}
	return json.RawMessage(f.Arguments), nil
}

// Response format types.
const (
	ResponseFormatText       = "text"
	ResponseFormatJSONObject = "json_object"
	ResponseFormatJSONSchema = "json_schema"
)

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the schema of a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatCompletion is a non-streaming chat completions response.
type ChatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *Usage       `json:"usage,omitempty"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	ServiceTier       string       `json:"service_tier,omitempty"`
}

// ChatChoice is one choice of a ChatCompletion.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ChatMessage     `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// ChatCompletionChunk is one event of a streaming chat completion. The last
// chunk of a stream with include_usage has no choices and carries Usage.
type ChatCompletionChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"` // "chat.completion.chunk"
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	// Error is set on an error event some providers send inside a stream.
	Error *Error `json:"error,omitempty"`
}

// ChunkChoice is one choice of a chunk; FinishReason is null until its last chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is the increment of a message in a chunk.
type Delta struct {
	Role             string          `json:"role,omitempty"`
	Content          string          `json:"content,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Reasoning        string          `json:"reasoning,omitempty"`
	Refusal          string          `json:"refusal,omitempty"`
	ToolCalls        []ToolCallDelta `json:"tool_calls,omitempty"`
	FunctionCall     *FunctionCall   `json:"function_call,omitempty"`
}

// ToolCallDelta is a fragment of a tool call in a chunk: the first fragment
// of a call has ID, Type and Function.Name; later ones append to Arguments.
type ToolCallDelta struct {
	Index    int          `json:"index"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// Usage is the token accounting of chat completions and completions.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
	// PromptCacheHitTokens is DeepSeek's name for cached prompt tokens.
	PromptCacheHitTokens int64 `json:"prompt_cache_hit_tokens,omitempty"`
}

// CachedTokens returns the cached prompt tokens under either name.
func (u *Usage) CachedTokens() int64 {
	if u.PromptTokensDetails != nil && u.PromptTokensDetails.CachedTokens > 0 {
		return u.PromptTokensDetails.CachedTokens
	}
	return u.PromptCacheHitTokens
}

// ReasoningTokens returns the reasoning tokens included in CompletionTokens.
func (u *Usage) ReasoningTokens() int64 {
	if u.CompletionTokensDetails == nil {
		return 0
	}
	return u.CompletionTokensDetails.ReasoningTokens
}

// PromptTokensDetails breaks down the prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
	AudioTokens  int64 `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks down the completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens          int64 `json:"reasoning_tokens"`
	AudioTokens              int64 `json:"audio_tokens,omitempty"`
	AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens,omitempty"`
	RejectedPredictionTokens int64 `json:"rejected_prediction_tokens,omitempty"`
}
