package providertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

// AnthropicStream checks that a client stream follows the Messages stream
// grammar (message_start; content blocks numbered from 0, each
// content_block_start, deltas of its kind, content_block_stop; message_delta;
// message_stop; nothing after) and returns the message it describes, as an
// SDK would accumulate it. An error event ends it with that error.
func AnthropicStream(stream []byte) (*anthropic.MessagesResponse, error) {
	rd := sse.NewReader(bytes.NewReader(stream))
	var msg *anthropic.MessagesResponse
	var args strings.Builder
	open, state := -1, "start"
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var e anthropic.StreamEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return nil, fmt.Errorf("event %q: %w", ev.Event, err)
		}
		if ev.Event != e.Type {
			return nil, fmt.Errorf("event name %q differs from data type %q", ev.Event, e.Type)
		}
		if e.Type == anthropic.EventError {
			return msg, fmt.Errorf("error event: %s", ev.Data)
		}
		if e.Type == anthropic.EventPing {
			continue
		}
		switch state + "/" + e.Type {
		case "start/message_start":
			if e.Message == nil {
				return nil, errors.New("message_start without message")
			}
			msg = e.Message
			msg.Content = []anthropic.ContentBlock{}
			state = "blocks"
		case "blocks/content_block_start":
			if e.Index != len(msg.Content) || e.ContentBlock == nil {
				return nil, fmt.Errorf("content_block_start index %d, want %d", e.Index, len(msg.Content))
			}
			msg.Content = append(msg.Content, *e.ContentBlock)
			open = e.Index
			args.Reset()
			state = "block"
		case "block/content_block_delta":
			if e.Index != open || e.Delta == nil {
				return nil, fmt.Errorf("delta for block %d while %d is open", e.Index, open)
			}
			b := &msg.Content[open]
			want := map[string]string{anthropic.DeltaText: anthropic.BlockText, anthropic.DeltaInputJSON: anthropic.BlockToolUse,
				anthropic.DeltaThinking: anthropic.BlockThinking, anthropic.DeltaSignature: anthropic.BlockThinking}[e.Delta.Type]
			if want != b.Type {
				return nil, fmt.Errorf("%s in a %s block", e.Delta.Type, b.Type)
			}
			b.Text += e.Delta.Text
			b.Thinking += e.Delta.Thinking
			b.Signature += e.Delta.Signature
			args.WriteString(e.Delta.PartialJSON)
		case "block/content_block_stop":
			if e.Index != open {
				return nil, fmt.Errorf("content_block_stop %d while %d is open", e.Index, open)
			}
			if b := &msg.Content[open]; b.Type == anthropic.BlockToolUse {
				in := args.String()
				if in == "" {
					in = "{}"
				}
				var obj map[string]any
				if err := json.Unmarshal([]byte(in), &obj); err != nil || obj == nil {
					return nil, fmt.Errorf("tool_use %s input is not a JSON object: %q", b.ID, in)
				}
				b.Input = json.RawMessage(in)
			}
			state = "blocks"
		case "blocks/message_delta":
			if e.Delta == nil || e.Delta.StopReason == nil || e.Usage == nil {
				return nil, errors.New("message_delta without stop_reason or usage")
			}
			msg.StopReason, msg.StopSequence = e.Delta.StopReason, e.Delta.StopSequence
			if e.Usage.OutputTokens != nil {
				msg.Usage.OutputTokens = *e.Usage.OutputTokens
			}
			if e.Usage.InputTokens != nil {
				msg.Usage.InputTokens = *e.Usage.InputTokens
			}
			if e.Usage.CacheReadInputTokens != nil {
				msg.Usage.CacheReadInputTokens = *e.Usage.CacheReadInputTokens
			}
			state = "delta"
		case "delta/message_stop":
			state = "stop"
		default:
			return nil, fmt.Errorf("%s not allowed in state %s", e.Type, state)
		}
	}
	if state != "stop" {
		return msg, fmt.Errorf("stream ended in state %s", state)
	}
	return msg, nil
}

// OpenAIMessage is a chat message as an OpenAI SDK accumulates a stream.
type OpenAIMessage struct {
	Role             string
	Content          string
	ReasoningContent string
	ToolCalls        []openai.ToolCall
	FinishReason     string
	Usage            *openai.Usage
	// ThinkingBlocks are weir's signed thinking blocks, when sent.
	ThinkingBlocks []anthropic.ContentBlock
}

// OpenAIStream checks a chat completion client stream (choices numbered
// from 0, tool calls started with id and name and continued by index,
// arguments that form JSON objects, one finish_reason per choice, an
// optional usage chunk after them, data: [DONE] last) and returns the
// accumulated message of choice 0.
func OpenAIStream(stream []byte) (*OpenAIMessage, error) {
	msgs, err := OpenAIStreamChoices(stream)
	if len(msgs) == 0 {
		return &OpenAIMessage{}, err
	}
	return msgs[0], err
}

// OpenAIStreamChoices is OpenAIStream for every choice.
func OpenAIStreamChoices(stream []byte) ([]*OpenAIMessage, error) {
	rd := sse.NewReader(bytes.NewReader(stream))
	var msgs []*OpenAIMessage
	var usage *openai.Usage
	done := false
	finished := func() bool {
		for _, m := range msgs {
			if m.FinishReason == "" {
				return false
			}
		}
		return len(msgs) > 0
	}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if done {
			return nil, errors.New("data after [DONE]")
		}
		if string(ev.Data) == "[DONE]" {
			done = true
			continue
		}
		var c struct {
			openai.ChatCompletionChunk
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					openai.Delta
					ThinkingBlocks []anthropic.ContentBlock `json:"thinking_blocks"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			return nil, fmt.Errorf("chunk: %w", err)
		}
		if c.Error != nil {
			return msgs, fmt.Errorf("error chunk: %s", ev.Data)
		}
		if c.Object != "chat.completion.chunk" || c.ID == "" {
			return nil, fmt.Errorf("chunk without object/id: %s", ev.Data)
		}
		if c.Usage != nil {
			if len(c.Choices) != 0 || !finished() {
				return nil, errors.New("usage chunk must have no choices and follow every finish_reason")
			}
			usage = c.Usage
			continue
		}
		for _, ch := range c.Choices {
			switch {
			case ch.Index == len(msgs):
				msgs = append(msgs, &OpenAIMessage{})
			case ch.Index < 0 || ch.Index > len(msgs):
				return nil, fmt.Errorf("choice index %d before choice %d appeared", ch.Index, len(msgs))
			}
			msg := msgs[ch.Index]
			if msg.FinishReason != "" {
				return nil, fmt.Errorf("choice %d: delta after finish_reason", ch.Index)
			}
			d := ch.Delta
			if d.Role != "" {
				msg.Role = d.Role
			}
			msg.Content += d.Content
			msg.ReasoningContent += d.ReasoningContent
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, d.ThinkingBlocks...)
			for _, tc := range d.ToolCalls {
				switch {
				case tc.Index == len(msg.ToolCalls):
					if tc.ID == "" || tc.Function.Name == "" {
						return nil, fmt.Errorf("tool call %d starts without id and name", tc.Index)
					}
					msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: tc.ID, Type: tc.Type, Function: tc.Function})
				case tc.Index == len(msg.ToolCalls)-1 && tc.ID == "":
					msg.ToolCalls[tc.Index].Function.Arguments += tc.Function.Arguments
				default:
					return nil, fmt.Errorf("tool call index %d out of order", tc.Index)
				}
			}
			if ch.FinishReason != nil {
				msg.FinishReason = *ch.FinishReason
			}
		}
	}
	for _, m := range msgs {
		m.Usage = usage
	}
	if !done || !finished() {
		return msgs, errors.New("stream without finish_reason or [DONE]")
	}
	for _, m := range msgs {
		for _, tc := range m.ToolCalls {
			var obj map[string]any
			if json.Unmarshal([]byte(tc.Function.Arguments), &obj) != nil || obj == nil {
				return nil, fmt.Errorf("tool call %s arguments are not a JSON object: %q", tc.ID, tc.Function.Arguments)
			}
		}
	}
	return msgs, nil
}

// Result is what the client of one translated exchange receives.
type Result struct {
	// Status is the upstream HTTP status.
	Status int
	// Body is the client body: the translated answer, or the translated error.
	Body []byte
	// Usage is the usage the translator reported.
	Usage provider.Usage
	// Err is the error a 2xx answer or stream was turned into.
	Err error
}

// Exchange runs one attempt for real: the translated request goes over HTTP
// to base (plus the provider's auth header), and the answer comes back
// through the translator as the attempt loop would relay it.
func Exchange(client *http.Client, base string, auth http.Header, tr provider.Translator, req *provider.Request, model string) (Result, error) {
	up, err := tr.Request(req, model)
	if err != nil {
		return Result{}, err
	}
	u := strings.TrimSuffix(base, "/") + up.Path
	if up.Query != "" {
		u += "?" + up.Query
	}
	hreq, err := http.NewRequest(up.Method, u, bytes.NewReader(up.Body))
	if err != nil {
		return Result{}, err
	}
	for k, v := range up.Header {
		hreq.Header[k] = v
	}
	for k, v := range auth {
		hreq.Header[k] = v
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	res := Result{Status: resp.StatusCode}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		res.Body = tr.Error(resp.StatusCode, b)
		return res, nil
	}
	if !req.Stream {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return res, err
		}
		res.Body, res.Usage, res.Err = tr.Response(b)
		return res, nil
	}
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			tail, err := tr.StreamEnd()
			res.Body = append(res.Body, tail...)
			res.Err = err
			break
		}
		if err != nil {
			return res, err
		}
		ch, err := tr.StreamEvent(ev)
		if err != nil {
			res.Err = err
			break
		}
		res.Body = append(res.Body, ch.Data...)
	}
	res.Usage = tr.Usage()
	return res, nil
}
