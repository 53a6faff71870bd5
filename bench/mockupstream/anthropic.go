package mockupstream

import (
	"strings"
)

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
