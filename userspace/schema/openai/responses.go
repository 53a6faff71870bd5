package openai

import "encoding/json"

// ResponseRequest is the body of POST /v1/responses. Input and Tools take
// several shapes and stay raw; translators that need them decode Input into
// a string or []ResponseInputItem.
type ResponseRequest struct {
	Model string `json:"model"`
	// Input is a string or an array of input items (ResponseInputItem).
	Input        json.RawMessage `json:"input,omitempty"`
	Instructions string          `json:"instructions,omitempty"`
	Stream       bool            `json:"stream,omitempty"`

	MaxOutputTokens    *int64            `json:"max_output_tokens,omitempty"`
	Temperature        *float64          `json:"temperature,omitempty"`
	TopP               *float64          `json:"top_p,omitempty"`
	Tools              []json.RawMessage `json:"tools,omitempty"`
	ToolChoice         json.RawMessage   `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls,omitempty"`
	PreviousResponseID string            `json:"previous_response_id,omitempty"`
	Store              *bool             `json:"store,omitempty"`
	Reasoning          *ReasoningConfig  `json:"reasoning,omitempty"`
	// Text holds the output format ({"format":{"type":"json_schema",...}}).
	Text        json.RawMessage   `json:"text,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	User        string            `json:"user,omitempty"`
	Truncation  string            `json:"truncation,omitempty"`
	Include     []string          `json:"include,omitempty"`
	ServiceTier string            `json:"service_tier,omitempty"`
	Background  *bool             `json:"background,omitempty"`
}

// ReasoningConfig configures a reasoning model.
type ReasoningConfig struct {
	// Effort is "minimal", "low", "medium" or "high".
	Effort string `json:"effort,omitempty"`
	// Summary is "auto", "concise" or "detailed".
	Summary string `json:"summary,omitempty"`
}

// Responses API item types.
const (
	ItemMessage            = "message"
	ItemFunctionCall       = "function_call"
	ItemFunctionCallOutput = "function_call_output"
	ItemReasoning          = "reasoning"
)

// ResponseInputItem is one item of an array input. A message has Role and
// Content (a string or an array of input_text / input_image / input_file
// parts); a function_call has CallID, Name and Arguments; a
// function_call_output has CallID and Output.
type ResponseInputItem struct {
	// Type is empty for the short form {"role","content"} of a message.
	Type      string          `json:"type,omitempty"`
	ID        string          `json:"id,omitempty"`
	Role      string          `json:"role,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	CallID    string          `json:"call_id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments string          `json:"arguments,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	Status    string          `json:"status,omitempty"`
}

// Response statuses.
const (
	ResponseCompleted  = "completed"
	ResponseFailed     = "failed"
	ResponseInProgress = "in_progress"
	ResponseIncomplete = "incomplete"
	ResponseQueued     = "queued"
	ResponseCancelled  = "cancelled"
)

// Response is the Responses API response object: the body of a
// non-streaming answer and the "response" of lifecycle stream events.
type Response struct {
	ID                string               `json:"id"`
	Object            string               `json:"object"` // "response"
	CreatedAt         int64                `json:"created_at"`
	Status            string               `json:"status"`
	Model             string               `json:"model"`
	Output            []ResponseOutputItem `json:"output"`
	Usage             *ResponseUsage       `json:"usage"`
	Error             *ResponseError       `json:"error"`
	IncompleteDetails *IncompleteDetails   `json:"incomplete_details"`
	Instructions      json.RawMessage      `json:"instructions,omitempty"`
	MaxOutputTokens   *int64               `json:"max_output_tokens,omitempty"`
	Temperature       *float64             `json:"temperature,omitempty"`
	TopP              *float64             `json:"top_p,omitempty"`
	ParallelToolCalls *bool                `json:"parallel_tool_calls,omitempty"`
	ToolChoice        json.RawMessage      `json:"tool_choice,omitempty"`
	Tools             []json.RawMessage    `json:"tools,omitempty"`
	Metadata          map[string]string    `json:"metadata,omitempty"`
}

// ResponseOutputItem is one item of a response's output: a message (Role,
// Content), a function_call (CallID, Name, Arguments) or a reasoning item
// (Summary, EncryptedContent).
type ResponseOutputItem struct {
	Type             string                  `json:"type"`
	ID               string                  `json:"id"`
	Status           string                  `json:"status,omitempty"`
	Role             string                  `json:"role,omitempty"`
	Content          []ResponseOutputContent `json:"content,omitempty"`
	CallID           string                  `json:"call_id,omitempty"`
	Name             string                  `json:"name,omitempty"`
	Arguments        string                  `json:"arguments,omitempty"`
	Summary          []ResponseOutputContent `json:"summary,omitempty"`
	EncryptedContent string                  `json:"encrypted_content,omitempty"`
}

// ResponseOutputContent is a content part of an output message
// ("output_text" with Text, "refusal" with Refusal) or a reasoning summary
// part ("summary_text" with Text).
type ResponseOutputContent struct {
	Type        string            `json:"type"`
	Text        string            `json:"text"`
	Annotations []json.RawMessage `json:"annotations,omitempty"`
	Refusal     string            `json:"refusal,omitempty"`
}

// ResponseUsage is the token accounting of the Responses API.
type ResponseUsage struct {
	InputTokens         int64               `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int64               `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int64               `json:"total_tokens"`
}

// InputTokensDetails breaks down the input tokens.
type InputTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// OutputTokensDetails breaks down the output tokens.
type OutputTokensDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// ResponseError is the error of a failed response.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response is incomplete.
type IncompleteDetails struct {
	// Reason is "max_output_tokens" or "content_filter".
	Reason string `json:"reason"`
}

// Responses API stream event types.
const (
	EventResponseCreated       = "response.created"
	EventResponseInProgress    = "response.in_progress"
	EventResponseQueued        = "response.queued"
	EventResponseCompleted     = "response.completed"
	EventResponseIncomplete    = "response.incomplete"
	EventResponseFailed        = "response.failed"
	EventOutputItemAdded       = "response.output_item.added"
	EventOutputItemDone        = "response.output_item.done"
	EventContentPartAdded      = "response.content_part.added"
	EventContentPartDone       = "response.content_part.done"
	EventOutputTextDelta       = "response.output_text.delta"
	EventOutputTextDone        = "response.output_text.done"
	EventRefusalDelta          = "response.refusal.delta"
	EventRefusalDone           = "response.refusal.done"
	EventFunctionCallArgsDelta = "response.function_call_arguments.delta"
	EventFunctionCallArgsDone  = "response.function_call_arguments.done"
	EventReasoningSummaryDelta = "response.reasoning_summary_text.delta"
	EventReasoningSummaryDone  = "response.reasoning_summary_text.done"
	EventReasoningTextDelta    = "response.reasoning_text.delta"
	EventError                 = "error"
)

// ResponseStreamEvent decodes any Responses API stream event; which fields
// are set depends on Type. Encode with the typed events below, whose zero
// indexes are not omitted.
type ResponseStreamEvent struct {
	Type           string                 `json:"type"`
	SequenceNumber int64                  `json:"sequence_number"`
	Response       *Response              `json:"response,omitempty"`
	OutputIndex    int                    `json:"output_index,omitempty"`
	ContentIndex   int                    `json:"content_index,omitempty"`
	SummaryIndex   int                    `json:"summary_index,omitempty"`
	ItemID         string                 `json:"item_id,omitempty"`
	Item           *ResponseOutputItem    `json:"item,omitempty"`
	Part           *ResponseOutputContent `json:"part,omitempty"`
	Delta          string                 `json:"delta,omitempty"`
	Text           string                 `json:"text,omitempty"`
	Arguments      string                 `json:"arguments,omitempty"`
	// Code, Message and Param are set on an "error" event.
	Code    ErrorCode `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	Param   *string   `json:"param,omitempty"`
}

// ResponseLifecycleEvent is response.created, .in_progress, .completed,
// .incomplete or .failed.
type ResponseLifecycleEvent struct {
	Type           string   `json:"type"`
	SequenceNumber int64    `json:"sequence_number"`
	Response       Response `json:"response"`
}

// ResponseOutputItemEvent is response.output_item.added or .done.
type ResponseOutputItemEvent struct {
	Type           string             `json:"type"`
	SequenceNumber int64              `json:"sequence_number"`
	OutputIndex    int                `json:"output_index"`
	Item           ResponseOutputItem `json:"item"`
}

// ResponseContentPartEvent is response.content_part.added or .done.
type ResponseContentPartEvent struct {
	Type           string                `json:"type"`
	SequenceNumber int64                 `json:"sequence_number"`
	ItemID         string                `json:"item_id"`
	OutputIndex    int                   `json:"output_index"`
	ContentIndex   int                   `json:"content_index"`
	Part           ResponseOutputContent `json:"part"`
}

// ResponseTextEvent is response.output_text.delta (Delta set) or
// response.output_text.done (Text set).
type ResponseTextEvent struct {
	Type           string `json:"type"`
	SequenceNumber int64  `json:"sequence_number"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	ContentIndex   int    `json:"content_index"`
	Delta          string `json:"delta,omitempty"`
	Text           string `json:"text,omitempty"`
}

// ResponseErrorEvent is the "error" stream event.
type ResponseErrorEvent struct {
	Type           string    `json:"type"`
	SequenceNumber int64     `json:"sequence_number"`
	Code           ErrorCode `json:"code"`
	Message        string    `json:"message"`
	Param          *string   `json:"param"`
}
