package providertest

import (
	"encoding/json"
	"fmt"

	"github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/schema/openai"
)

// Turn is one client answer reduced to what a tool loop needs, whatever
// the dialect: the text, the tool calls and, to send back, the assistant
// message in the client's own shape.
type Turn struct {
	Text      string
	Reasoning string
	Tools     []openai.ToolCall
	Stop      string
	// Assistant is the answer as a request message of the client dialect
	// (signed thinking included), ready to be sent back.
	Assistant json.RawMessage
}

// ParseTurn reads a client answer (body or stream) of a chat or Messages client.
func ParseTurn(dialect string, stream bool, body []byte) (*Turn, error) {
	if dialect == "anthropic" {
		var msg *anthropic.MessagesResponse
		var err error
		if stream {
			msg, err = AnthropicStream(body)
		} else {
			msg = &anthropic.MessagesResponse{}
			err = json.Unmarshal(body, msg)
		}
		if err != nil {
			return nil, err
		}
		t := &Turn{}
		if msg.StopReason != nil {
			t.Stop = *msg.StopReason
		}
		for _, b := range msg.Content {
			switch b.Type {
			case anthropic.BlockText:
				t.Text += b.Text
			case anthropic.BlockThinking:
				t.Reasoning += b.Thinking
			case anthropic.BlockToolUse:
				t.Tools = append(t.Tools, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: string(b.Input)}})
			}
		}
		t.Assistant, err = json.Marshal(anthropic.Message{Role: "assistant", Content: anthropic.Content{Blocks: msg.Content}})
		return t, err
	}
	var m OpenAIMessage
	if stream {
		sm, err := OpenAIStream(body)
		if err != nil {
			return nil, err
		}
		m = *sm
	} else {
		var c struct {
			Choices []struct {
				Message struct {
					openai.ChatMessage
					ThinkingBlocks []anthropic.ContentBlock `json:"thinking_blocks"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 {
			return nil, fmt.Errorf("chat completion with one choice expected: %v: %s", err, body)
		}
		ch := c.Choices[0]
		m = OpenAIMessage{Role: ch.Message.Role, Content: ch.Message.Content.JoinText(), ReasoningContent: ch.Message.ReasoningContent,
			ToolCalls: ch.Message.ToolCalls, FinishReason: ch.FinishReason, ThinkingBlocks: ch.Message.ThinkingBlocks}
	}
	t := &Turn{Text: m.Content, Reasoning: m.ReasoningContent, Tools: m.ToolCalls, Stop: m.FinishReason}
	msg := map[string]any{"role": "assistant", "content": m.Content}
	if len(m.ToolCalls) > 0 {
		msg["tool_calls"] = m.ToolCalls
	}
	if len(m.ThinkingBlocks) > 0 {
		msg["thinking_blocks"] = m.ThinkingBlocks
	}
	var err error
	t.Assistant, err = json.Marshal(msg)
	return t, err
}

// ToolResults are the client messages answering every tool call of t.
func (t *Turn) ToolResults(dialect, result string) []json.RawMessage {
	var out []json.RawMessage
	if dialect == "anthropic" {
		var blocks []anthropic.ContentBlock
		for _, tc := range t.Tools {
			blocks = append(blocks, anthropic.ContentBlock{Type: anthropic.BlockToolResult, ToolUseID: tc.ID,
				ResultContent: &anthropic.Content{Text: result, IsString: true}})
		}
		b, _ := json.Marshal(anthropic.Message{Role: "user", Content: anthropic.Content{Blocks: blocks}})
		return append(out, b)
	}
	for _, tc := range t.Tools {
		b, _ := json.Marshal(map[string]string{"role": "tool", "tool_call_id": tc.ID, "content": result})
		out = append(out, b)
	}
	return out
}
