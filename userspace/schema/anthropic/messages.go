// Package anthropic holds the wire types of the Anthropic Messages API
// (POST /v1/messages and /v1/messages/count_tokens), its SSE stream events and
// its error body, plus the small encoders every translator that answers an
// Anthropic client needs. It imports only the standard library.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
)

// MessagesRequest is the body of POST /v1/messages and, without MaxTokens and
// Stream, of POST /v1/messages/count_tokens.
type MessagesRequest struct {
	Model         string      `json:"model"`
	Messages      []Message   `json:"messages"`
	System        *Content    `json:"system,omitempty"`
	MaxTokens     *int64      `json:"max_tokens,omitempty"`
	Metadata      *Metadata   `json:"metadata,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Stream        bool        `json:"stream,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TopP          *float64    `json:"top_p,omitempty"`
	TopK          *int64      `json:"top_k,omitempty"`
	Tools         []Tool      `json:"tools,omitempty"`
	ToolChoice    *ToolChoice `json:"tool_choice,omitempty"`
	Thinking      *Thinking   `json:"thinking,omitempty"`
	ServiceTier   string      `json:"service_tier,omitempty"`
}

// RequestFields are the top-level request keys MessagesRequest models;
// translators reject any other key by name instead of dropping it.
var RequestFields = map[string]bool{
	"model": true, "messages": true, "system": true, "max_tokens": true, "metadata": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "thinking": true, "service_tier": true,
}

// Metadata is the request metadata object.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Message is one conversation turn.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Content is a message content or system prompt: a plain string or an array
// of blocks. String is set when the JSON was a string.
type Content struct {
	Text     string
	IsString bool
	Blocks   []ContentBlock
}

// UnmarshalJSON accepts a string or an array of content blocks.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		c.IsString = true
		c.Blocks = nil
		return json.Unmarshal(b, &c.Text)
	}
	if len(b) > 0 && b[0] == '[' {
		c.IsString = false
		return json.Unmarshal(b, &c.Blocks)
	}
	return errors.New("content must be a string or an array of content blocks")
}

// MarshalJSON writes a string when IsString, the blocks otherwise.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.IsString {
		return json.Marshal(c.Text)
	}
	if c.Blocks == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(c.Blocks)
}

// Content block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
)

// ContentBlock is one block of a message. Which fields are meaningful depends
// on Type; MarshalJSON writes exactly the fields of that type.
type ContentBlock struct {
	Type string `json:"type"`
	// text
	Text      string          `json:"text,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`
	// image, document
	Source  *Source `json:"source,omitempty"`
	Title   string  `json:"title,omitempty"`
	Context string  `json:"context,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID     string   `json:"tool_use_id,omitempty"`
	ResultContent *Content `json:"content,omitempty"`
	IsError       bool     `json:"is_error,omitempty"`
	// thinking, redacted_thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`
	// CacheControl is a prompt-caching breakpoint, meaningful only to Anthropic.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// MarshalJSON writes the fields Anthropic sends for the block's type,
// including the empty ones its clients expect ("text":"", "input":{}).
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case BlockText:
		return json.Marshal(struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			Citations json.RawMessage `json:"citations,omitempty"`
		}{b.Type, b.Text, b.Citations})
	case BlockToolUse:
		in := b.Input
		if len(in) == 0 {
			in = json.RawMessage("{}")
		}
		return json.Marshal(struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}{b.Type, b.ID, b.Name, in})
	case BlockThinking:
		return json.Marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	case BlockRedactedThinking:
		return json.Marshal(struct {
			Type string `json:"type"`
			Data string `json:"data"`
		}{b.Type, b.Data})
	}
	type plain ContentBlock
	return json.Marshal(plain(b))
}

// Source is where an image or document block's bytes come from.
type Source struct {
	// Type is "base64", "url", "text", "content" or "file".
	Type      string   `json:"type"`
	MediaType string   `json:"media_type,omitempty"`
	Data      string   `json:"data,omitempty"`
	URL       string   `json:"url,omitempty"`
	FileID    string   `json:"file_id,omitempty"`
	Content   *Content `json:"content,omitempty"`
}

// Tool is a tool definition. Client tools have an empty Type (or "custom")
// and an InputSchema; server tools (web search, code execution, …) have a
// versioned Type such as "web_search_20250305".
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// IsClientTool reports whether the tool is executed by the client (a plain
// function with a JSON schema) rather than by Anthropic.
func (t Tool) IsClientTool() bool { return t.Type == "" || t.Type == "custom" }

// ToolChoice is the tool_choice object.
type ToolChoice struct {
	// Type is "auto", "any", "tool" or "none".
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Thinking is the extended-thinking configuration.
type Thinking struct {
	// Type is "enabled", "disabled" or "adaptive".
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens,omitempty"`
}

// MessagesResponse is a complete (non-streaming) answer, also the "message"
// of a message_start event.
type MessagesResponse struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`
}

// Stop reasons.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopStopSequence = "stop_sequence"
	StopToolUse      = "tool_use"
	StopRefusal      = "refusal"
	StopPauseTurn    = "pause_turn"
	StopContextLimit = "model_context_window_exceeded"
)

// Usage is Anthropic's token accounting. InputTokens excludes the cached
// (read) and cache-creation tokens; OutputTokens includes thinking.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// CountTokensResponse is the body of a count_tokens answer.
type CountTokensResponse struct {
	InputTokens int64 `json:"input_tokens"`
}
