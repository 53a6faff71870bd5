package mockupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

type anthropicRequest struct {
	Model     string             `json:"model"`
	MaxTokens *int               `json:"max_tokens"`
	Messages  []anthropicMessage `json:"messages"`
	Stream    bool               `json:"stream"`
	Tools     []struct {
		Name string `json:"name"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

func (s *Server) parseMessages(p *parsed, ep endpoint, r *http.Request, body []byte) *apiError {
	var req anthropicRequest
	e := decode(body, &req)
	p.reqModel = req.Model
	if r.Header.Get("anthropic-version") == "" {
		return badRequest("anthropic-version: header is required")
	}
	if e != nil {
		return e
	}
	p.reqModel = req.Model
	if req.Model == "" {
		return badRequest("model: Field required")
	}
	if len(req.Messages) == 0 {
		return badRequest("messages: Field required")
	}
	if e := checkThinkingSignatures(req.Messages); e != nil {
		return e
	}
	p.reqModel = req.Model
	if ep == epCountTokens {
		return nil
	}
	if req.MaxTokens == nil {
		return badRequest("max_tokens: Field required")
	}
	if e := s.limitWords(p, req.MaxTokens, "max_tokens"); e != nil {
		return e
	}
	p.stream = req.Stream
	if t := req.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			if t.BudgetTokens < 1024 {
				return badRequest("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
			}
			if t.BudgetTokens >= *req.MaxTokens {
				return badRequest("`max_tokens` must be greater than `thinking.budget_tokens`")
			}
			p.thinking = true
		case "adaptive":
			p.thinking = true
		case "disabled":
		default:
			return badRequest(fmt.Sprintf("thinking.type: Input tag %q found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", t.Type))
		}
	}
	choice := "auto"
	if req.ToolChoice != nil {
		choice = req.ToolChoice.Type
	}
	last := req.Messages[len(req.Messages)-1]
	if len(req.Tools) > 0 && choice != "none" && !hasToolResult(last.Role, last.Content) {
		p.tool = req.Tools[0].Name
		if choice == "tool" {
			p.tool = req.ToolChoice.Name
		}
		if p.tool == "" {
			return badRequest("tools.0.name: Field required")
		}
	}
	return nil
}

// hasToolResult reports a user message that carries tool results: the model
// answers those with text instead of calling the tool again.
func hasToolResult(role string, content json.RawMessage) bool {
	if role != "user" || len(content) == 0 || content[0] != '[' {
		return false
	}
	var blocks []anthropicBlock
	if json.Unmarshal(content, &blocks) != nil {
		return false
	}
	for _, b := range blocks {
		if b.Type == "tool_result" {
			return true
		}
	}
	return false
}

// checkThinkingSignatures rejects assistant thinking blocks whose signature
// is not the one the mock gave them, as the real API does: a gateway must
// carry signed thinking back unchanged.
func checkThinkingSignatures(msgs []anthropicMessage) *apiError {
	for i, m := range msgs {
		if m.Role != "assistant" || len(m.Content) == 0 || m.Content[0] != '[' {
			continue
		}
		var blocks []anthropicBlock
		if err := json.Unmarshal(m.Content, &blocks); err != nil {
			return badRequest(fmt.Sprintf("messages.%d.content: %v", i, err))
		}
		for j, b := range blocks {
			if b.Type == "thinking" && b.Signature != Signature(b.Thinking) {
				return badRequest(fmt.Sprintf("messages.%d.content.%d: Invalid `signature` in `thinking` block", i, j))
			}
		}
	}
	return nil
}

func (s *Server) buildMessages(p plan) *response {
	words := textWords("mock reply", p.words)
	text := strings.Join(words, " ")
	var thinkWords []string
	if p.thinking {
		thinkWords = textWords("mock thinking", s.opts.ThinkingWords)
	}
	thinking := strings.Join(thinkWords, " ")
	completion := p.words + len(thinkWords)
	stop := "end_turn"
	switch {
	case p.tool != "":
		completion += ToolCallTokens
		stop = "tool_use"
	case p.truncated:
		stop = "max_tokens"
	}
	usage := func(b *builder, output int) {
		b.s(`{"input_tokens":`).hole(holeUncached).s(`,"cache_creation_input_tokens":0,"cache_read_input_tokens":`).hole(holeCached).
			s(`,"output_tokens":`).n(output).s(`,"service_tier":"standard"}`)
	}
	message := func(b *builder, final bool) {
		b.s(`{"id":"msg_mock","type":"message","role":"assistant","model":`).q(p.model).s(`,"content":[`)
		if final {
			if p.thinking {
				b.s(`{"type":"thinking","thinking":`).q(thinking).s(`,"signature":`).q(Signature(thinking)).s(`},`)
			}
			b.s(`{"type":"text","text":`).q(text).s(`}`)
			if p.tool != "" {
				b.s(`,{"type":"tool_use","id":"` + AnthropicToolUseID + `","name":`).q(p.tool).s(`,"input":` + ToolArguments + `}`)
			}
			b.s(`],"stop_reason":"` + stop + `","stop_sequence":null,"usage":`)
			usage(b, completion)
		} else {
			b.s(`],"stop_reason":null,"stop_sequence":null,"usage":`)
			usage(b, 1)
		}
		b.s(`}`)
	}
	b := &builder{eol: "\n"}
	if !p.stream {
		message(b, true)
		b.end(false)
		return &response{frames: b.frames, completion: completion, contentType: "application/json"}
	}
	b.event("message_start").s(`{"type":"message_start","message":`)
	message(b, false)
	b.s(`}`).endEvent(false)
	b.event("ping").s(`{"type": "ping"}`).endEvent(false)
	index := 0
	block := func(start string, deltas []string, stopExtra func()) {
		b.event("content_block_start").s(`{"type":"content_block_start","index":`).n(index).s(`,"content_block":` + start + `}`).endEvent(false)
		for _, d := range deltas {
			b.event("content_block_delta").s(`{"type":"content_block_delta","index":`).n(index).s(`,"delta":` + d + `}`).endEvent(true)
		}
		if stopExtra != nil {
			stopExtra()
		}
		b.event("content_block_stop").s(`{"type":"content_block_stop","index":`).n(index).s(`}`).endEvent(false)
		index++
	}
	deltas := func(typ, field string, parts []string) []string {
		out := make([]string, len(parts))
		for i, part := range parts {
			out[i] = `{"type":"` + typ + `","` + field + `":` + string(appendJSONString(nil, part)) + `}`
		}
		return out
	}
	if p.thinking {
		block(`{"type":"thinking","thinking":"","signature":""}`, deltas("thinking_delta", "thinking", pieces(thinkWords, 3)), func() {
			b.event("content_block_delta").s(`{"type":"content_block_delta","index":`).n(index).
				s(`,"delta":{"type":"signature_delta","signature":`).q(Signature(thinking)).s(`}}`).endEvent(false)
		})
	}
	block(`{"type":"text","text":""}`, deltas("text_delta", "text", pieces(words, s.chunkCount(p.words))), nil)
	if p.tool != "" {
		start := `{"type":"tool_use","id":"` + AnthropicToolUseID + `","name":` + string(appendJSONString(nil, p.tool)) + `,"input":{}}`
		block(start, deltas("input_json_delta", "partial_json", append([]string{""}, toolArgPieces...)), nil)
	}
	b.event("message_delta").s(`{"type":"message_delta","delta":{"stop_reason":"` + stop + `","stop_sequence":null},"usage":{"output_tokens":`).
		n(completion).s(`}}`).endEvent(false)
	b.event("message_stop").s(`{"type":"message_stop"}`).endEvent(false)
	return &response{frames: b.frames, completion: completion, stream: true, contentType: "text/event-stream; charset=utf-8"}
}
