package anthropic

import (
	"encoding/json"
	"strconv"
)

// Stream event types ("event:" names, equal to the data's "type").
const (
	EventMessageStart      = "message_start"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Delta types of content_block_delta.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// StreamEvent is the data of any stream event; which fields are set depends
// on Type.
type StreamEvent struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        int               `json:"index"`
	ContentBlock *ContentBlock     `json:"content_block,omitempty"`
	Delta        *Delta            `json:"delta,omitempty"`
	Usage        *DeltaUsage       `json:"usage,omitempty"`
	Error        *ErrorDetail      `json:"error,omitempty"`
}

// Delta is the delta of content_block_delta (Type set) or of message_delta
// (StopReason set).
type Delta struct {
	Type         string  `json:"type,omitempty"`
	Text         string  `json:"text,omitempty"`
	PartialJSON  string  `json:"partial_json,omitempty"`
	Thinking     string  `json:"thinking,omitempty"`
	Signature    string  `json:"signature,omitempty"`
	StopReason   *string `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// DeltaUsage is the usage of a message_delta: cumulative output tokens and,
// on newer API versions, the input counts again. Absent fields are nil.
type DeltaUsage struct {
	InputTokens              *int64 `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             *int64 `json:"output_tokens,omitempty"`
}

// AppendEvent frames one SSE event ("event: name" and one data line) onto buf.
// data must not contain a newline (JSON from encoding/json never does).
func AppendEvent(buf []byte, name string, data []byte) []byte {
	buf = append(buf, "event: "...)
	buf = append(buf, name...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	return append(buf, "\n\n"...)
}

// StreamWriter produces a well-formed Anthropic event sequence from the
// pieces of another provider's stream: it opens and closes content blocks,
// numbers them, and emits message_start before and message_delta and
// message_stop after them. The zero value is ready to use.
type StreamWriter struct {
	started bool
	open    string // type of the open block, "" when none
	next    int    // index of the next block
}

// Started reports whether message_start was written.
func (w *StreamWriter) Started() bool { return w.started }

// Open is the type of the open content block, "" when none.
func (w *StreamWriter) Open() string { return w.open }

// Start writes message_start once; later calls do nothing.
func (w *StreamWriter) Start(buf []byte, id, model string, usage Usage) []byte {
	if w.started {
		return buf
	}
	w.started = true
	data, _ := json.Marshal(struct {
		Type    string            `json:"type"`
		Message *MessagesResponse `json:"message"`
	}{EventMessageStart, &MessagesResponse{
		ID: id, Type: "message", Role: "assistant", Model: model, Content: []ContentBlock{}, Usage: usage,
	}})
	return AppendEvent(buf, EventMessageStart, data)
}

func (w *StreamWriter) startBlock(buf []byte, block ContentBlock) []byte {
	buf = w.CloseBlock(buf)
	w.open = block.Type
	data, _ := json.Marshal(StreamEvent{Type: EventContentBlockStart, Index: w.next, ContentBlock: &block})
	return AppendEvent(buf, EventContentBlockStart, data)
}

func (w *StreamWriter) delta(buf []byte, d Delta) []byte {
	data, _ := json.Marshal(StreamEvent{Type: EventContentBlockDelta, Index: w.next, Delta: &d})
	return AppendEvent(buf, EventContentBlockDelta, data)
}

// CloseBlock writes content_block_stop for the open block, if any.
func (w *StreamWriter) CloseBlock(buf []byte) []byte {
	if w.open == "" {
		return buf
	}
	buf = append(buf, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	buf = strconv.AppendInt(buf, int64(w.next), 10)
	buf = append(buf, "}\n\n"...)
	w.open = ""
	w.next++
	return buf
}

// Text appends text, opening a text block when another kind is open.
func (w *StreamWriter) Text(buf []byte, s string) []byte {
	if w.open != BlockText {
		buf = w.startBlock(buf, ContentBlock{Type: BlockText})
	}
	if s == "" {
		return buf
	}
	return w.delta(buf, Delta{Type: DeltaText, Text: s})
}

// Thinking appends reasoning text, opening a thinking block when needed.
func (w *StreamWriter) Thinking(buf []byte, s string) []byte {
	if w.open != BlockThinking {
		buf = w.startBlock(buf, ContentBlock{Type: BlockThinking})
	}
	if s == "" {
		return buf
	}
	return w.delta(buf, Delta{Type: DeltaThinking, Thinking: s})
}

// Signature appends a signature_delta to the open thinking block (opening an
// empty one when none is open) and closes it: a signature ends a block.
func (w *StreamWriter) Signature(buf []byte, sig string) []byte {
	if w.open != BlockThinking {
		buf = w.startBlock(buf, ContentBlock{Type: BlockThinking})
	}
	buf = w.delta(buf, Delta{Type: DeltaSignature, Signature: sig})
	return w.CloseBlock(buf)
}

// Redacted writes a complete redacted_thinking block.
func (w *StreamWriter) Redacted(buf []byte, data string) []byte {
	buf = w.startBlock(buf, ContentBlock{Type: BlockRedactedThinking, Data: data})
	return w.CloseBlock(buf)
}

// ToolStart opens a tool_use block.
func (w *StreamWriter) ToolStart(buf []byte, id, name string) []byte {
	return w.startBlock(buf, ContentBlock{Type: BlockToolUse, ID: id, Name: name})
}

// ToolArgs appends a fragment of the open tool_use block's input JSON.
func (w *StreamWriter) ToolArgs(buf []byte, partial string) []byte {
	if w.open != BlockToolUse || partial == "" {
		return buf
	}
	return w.delta(buf, Delta{Type: DeltaInputJSON, PartialJSON: partial})
}

// Finish closes the open block and writes message_delta (stop reason and the
// final usage) and message_stop.
func (w *StreamWriter) Finish(buf []byte, stopReason string, stopSequence *string, usage Usage) []byte {
	buf = w.CloseBlock(buf)
	type stop struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	data, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Delta stop   `json:"delta"`
		Usage Usage  `json:"usage"`
	}{EventMessageDelta, stop{stopReason, stopSequence}, usage})
	buf = AppendEvent(buf, EventMessageDelta, data)
	return append(buf, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}
