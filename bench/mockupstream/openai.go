package mockupstream

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// chunkCount is the number of content chunks a reply of words is streamed in.
func (s *Server) chunkCount(words int) int {
	if s.opts.Chunks > 0 {
		return min(s.opts.Chunks, words)
	}
	return words
}

func openAIUsage(b *builder, completion, reasoning int) {
	b.s(`{"prompt_tokens":`).hole(holePrompt).s(`,"completion_tokens":`).n(completion).
		s(`,"total_tokens":`).hole(holeTotal).s(`,"prompt_tokens_details":{"cached_tokens":`).hole(holeCached).
		s(`,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`).n(reasoning).
		s(`,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
}

func (s *Server) buildChat(p plan) *response {
	words := textWords("mock reply", p.words)
	reasoning := 0
	if p.reasoning {
		reasoning = s.opts.ThinkingWords
	}
	completion := p.words + reasoning
	finish := "stop"
	switch {
	case p.tool != "":
		completion, finish = ToolCallTokens+reasoning, "tool_calls"
	case p.truncated:
		finish = "length"
	}
	b := &builder{eol: "\n"}
	if !p.stream {
		b.s(`{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":`).q(p.model).
			s(`,"choices":[{"index":0,"message":{"role":"assistant","content":`)
		if p.tool != "" {
			b.s(`null,"tool_calls":[{"id":"` + OpenAIToolCallID + `","type":"function","function":{"name":`).q(p.tool).
				s(`,"arguments":`).q(ToolArguments).s(`}}]`)
		} else {
			b.q(strings.Join(words, " "))
		}
		b.s(`,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"` + finish + `"}],"usage":`)
		openAIUsage(b, completion, reasoning)
		b.s(`,"service_tier":"default","system_fingerprint":"fp_mock"}`)
		b.end(false)
		return &response{frames: b.frames, completion: completion, contentType: "application/json"}
	}
	usageNull := ""
	if p.usageChunk {
		usageNull = `,"usage":null`
	}
	chunk := func() {
		b.event("").s(`{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":`).q(p.model).
			s(`,"service_tier":"default","system_fingerprint":"fp_mock","choices":[`)
	}
	endChunk := func(content bool) {
		b.s(`]` + usageNull + `}`)
		b.endEvent(content)
	}
	chunk()
	b.s(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`)
	endChunk(false)
	if p.tool != "" {
		chunk()
		b.s(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"` + OpenAIToolCallID + `","type":"function","function":{"name":`).q(p.tool).
			s(`,"arguments":""}}]},"logprobs":null,"finish_reason":null}`)
		endChunk(true)
		for _, a := range toolArgPieces {
			chunk()
			b.s(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`).q(a).s(`}}]},"logprobs":null,"finish_reason":null}`)
			endChunk(true)
		}
	} else {
		for _, piece := range pieces(words, s.chunkCount(p.words)) {
			chunk()
			b.s(`{"index":0,"delta":{"content":`).q(piece).s(`},"logprobs":null,"finish_reason":null}`)
			endChunk(true)
		}
	}
	chunk()
	b.s(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"` + finish + `"}`)
	endChunk(false)
	if p.usageChunk {
		chunk()
		b.s(`],"usage":`)
		openAIUsage(b, completion, reasoning)
		b.s(`}`)
		b.endEvent(false)
	}
	b.event("").s(`[DONE]`).endEvent(false)
	return &response{frames: b.frames, completion: completion, stream: true, contentType: "text/event-stream; charset=utf-8"}
}

func (s *Server) buildCompletions(p plan) *response {
	words := textWords("mock reply", p.words)
	finish := "stop"
	if p.truncated {
		finish = "length"
	}
	usage := func(b *builder) {
		b.s(`{"prompt_tokens":`).hole(holePrompt).s(`,"completion_tokens":`).n(p.words).s(`,"total_tokens":`).hole(holeTotal).s(`}`)
	}
	b := &builder{eol: "\n"}
	if !p.stream {
		b.s(`{"id":"cmpl-mock","object":"text_completion","created":1700000000,"model":`).q(p.model).
			s(`,"choices":[{"text":`).q(strings.Join(words, " ")).s(`,"index":0,"logprobs":null,"finish_reason":"` + finish + `"}],"usage":`)
		usage(b)
		b.s(`}`)
		b.end(false)
		return &response{frames: b.frames, completion: p.words, contentType: "application/json"}
	}
	chunk := func(text, finish string, content bool) {
		b.event("").s(`{"id":"cmpl-mock","object":"text_completion","created":1700000000,"choices":[{"text":`).q(text).
			s(`,"index":0,"logprobs":null,"finish_reason":` + finish + `}],"model":`).q(p.model).s(`}`)
		b.endEvent(content)
	}
	for _, piece := range pieces(words, s.chunkCount(p.words)) {
		chunk(piece, "null", true)
	}
	chunk("", `"`+finish+`"`, false)
	if p.usageChunk {
		b.event("").s(`{"id":"cmpl-mock","object":"text_completion","created":1700000000,"model":`).q(p.model).s(`,"choices":[],"usage":`)
		usage(b)
		b.s(`}`)
		b.endEvent(false)
	}
	b.event("").s(`[DONE]`).endEvent(false)
	return &response{frames: b.frames, completion: p.words, stream: true, contentType: "text/event-stream; charset=utf-8"}
}

// buildEmbeddings answers an embeddings request (per request: the vectors
// depend on the input).
func buildEmbeddings(model string, inputs []string, dims int, asBase64 bool) *response {
	b := &builder{}
	b.s(`{"object":"list","data":[`)
	var raw []byte
	for i, in := range inputs {
		if i > 0 {
			b.s(",")
		}
		b.s(`{"object":"embedding","index":`).n(i).s(`,"embedding":`)
		vec := EmbeddingVector(in, dims)
		if asBase64 {
			raw = raw[:0]
			for _, f := range vec {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
			}
			b.q(base64.StdEncoding.EncodeToString(raw))
		} else {
			b.s("[")
			for j, f := range vec {
				if j > 0 {
					b.s(",")
				}
				b.cur.b = strconv.AppendFloat(b.cur.b, float64(f), 'f', -1, 32)
			}
			b.s("]")
		}
		b.s(`}`)
	}
	b.s(`],"model":`).q(model).s(`,"usage":{"prompt_tokens":`).hole(holePrompt).s(`,"total_tokens":`).hole(holePrompt).s(`}}`)
	b.end(false)
	return &response{frames: b.frames, contentType: "application/json"}
}

// EmbeddingVector is the vector the mock returns for one input (a string, or
// the JSON text of a token array).
func EmbeddingVector(input string, dims int) []float32 {
	v := make([]float32, dims)
	for j := range v {
		h := fnv.New64a()
		h.Write([]byte(input))
		h.Write([]byte{'#', byte(j), byte(j >> 8), byte(j >> 16)})
		v[j] = float32(int(h.Sum64()%2001)-1000) / 1000
	}
	return v
}

func (s *Server) buildResponses(p plan) *response {
	words := textWords("mock reply", p.words)
	text := strings.Join(words, " ")
	reasoning := 0
	if p.reasoning {
		reasoning = s.opts.ThinkingWords
	}
	completion := p.words + reasoning
	status := "completed"
	if p.truncated {
		status = "incomplete"
	}
	item := func(b *builder, status string, withText bool) {
		b.s(`{"id":"msg_mock","type":"message","status":"` + status + `","content":[`)
		if withText {
			b.s(`{"type":"output_text","annotations":[],"logprobs":[],"text":`).q(text).s(`}`)
		}
		b.s(`],"role":"assistant"}`)
	}
	object := func(b *builder, final bool) {
		st := "in_progress"
		if final {
			st = status
		}
		b.s(`{"id":"resp_mock","object":"response","created_at":1700000000,"status":"` + st + `","error":null,"incomplete_details":`)
		if final && p.truncated {
			b.s(`{"reason":"max_output_tokens"}`)
		} else {
			b.s(`null`)
		}
		b.s(`,"model":`).q(p.model).s(`,"output":[`)
		if final {
			item(b, status, true)
		}
		b.s(`],"usage":`)
		if final {
			b.s(`{"input_tokens":`).hole(holePrompt).s(`,"input_tokens_details":{"cached_tokens":`).hole(holeCached).
				s(`},"output_tokens":`).n(completion).s(`,"output_tokens_details":{"reasoning_tokens":`).n(reasoning).
				s(`},"total_tokens":`).hole(holeTotal).s(`}`)
		} else {
			b.s(`null`)
		}
		b.s(`}`)
	}
	b := &builder{eol: "\n"}
	if !p.stream {
		object(b, true)
		b.end(false)
		return &response{frames: b.frames, completion: completion, contentType: "application/json"}
	}
	seq := 0
	ev := func(typ string) {
		b.event(typ).s(`{"type":"` + typ + `","sequence_number":`).n(seq)
		seq++
	}
	const part = `"item_id":"msg_mock","output_index":0,"content_index":0`
	ev("response.created")
	b.s(`,"response":`)
	object(b, false)
	b.s(`}`).endEvent(false)
	ev("response.in_progress")
	b.s(`,"response":`)
	object(b, false)
	b.s(`}`).endEvent(false)
	ev("response.output_item.added")
	b.s(`,"output_index":0,"item":`)
	item(b, "in_progress", false)
	b.s(`}`).endEvent(false)
	ev("response.content_part.added")
	b.s(`,` + part + `,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}`).endEvent(false)
	for _, piece := range pieces(words, s.chunkCount(p.words)) {
		ev("response.output_text.delta")
		b.s(`,` + part + `,"delta":`).q(piece).s(`,"logprobs":[]}`).endEvent(true)
	}
	ev("response.output_text.done")
	b.s(`,` + part + `,"text":`).q(text).s(`,"logprobs":[]}`).endEvent(false)
	ev("response.content_part.done")
	b.s(`,` + part + `,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":`).q(text).s(`}}`).endEvent(false)
	ev("response.output_item.done")
	b.s(`,"output_index":0,"item":`)
	item(b, status, true)
	b.s(`}`).endEvent(false)
	if p.truncated {
		ev("response.incomplete")
	} else {
		ev("response.completed")
	}
	b.s(`,"response":`)
	object(b, true)
	b.s(`}`).endEvent(false)
	return &response{frames: b.frames, completion: completion, stream: true, contentType: "text/event-stream; charset=utf-8"}
}
