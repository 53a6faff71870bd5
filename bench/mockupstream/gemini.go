package mockupstream

import (
	"strings"
)

func (s *Server) buildGemini(p plan) *response {
	words := textWords("mock reply", p.words)
	thoughts := 0
	if p.reasoning {
		thoughts = s.opts.ThinkingWords
	}
	candidates := p.words
	if p.tool != "" {
		candidates = ToolCallTokens
	}
	finish := "STOP"
	if p.truncated && p.tool == "" {
		finish = "MAX_TOKENS"
	}
	thinking := ""
	if p.thinking {
		thinking = ThinkingText(s.opts.ThinkingWords)
	}
	thoughtPart := `{"text":` + string(appendJSONString(nil, thinking)) + `,"thought":true}`
	callPart := `{"functionCall":{"name":` + string(appendJSONString(nil, p.tool)) + `,"args":` + ToolArguments + `}`
	if p.reasoning {
		callPart += `,"thoughtSignature":` + string(appendJSONString(nil, Signature(thinking)))
	}
	callPart += `}`
	usage := func(b *builder) {
		b.s(`,"usageMetadata":{"promptTokenCount":`).hole(holePrompt).s(`,"candidatesTokenCount":`).n(candidates).
			s(`,"totalTokenCount":`).hole(holeTotal)
		if s.opts.CachedTokens > 0 {
			b.s(`,"cachedContentTokenCount":`).hole(holeCached)
		}
		if thoughts > 0 {
			b.s(`,"thoughtsTokenCount":`).n(thoughts)
		}
		b.s(`,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`).hole(holePrompt).s(`}]}`)
	}
	// candidate writes one GenerateContentResponse; last adds the finish
	// reason and the usage.
	candidate := func(b *builder, parts string, last bool) {
		b.s(`{"candidates":[{"content":{"parts":[` + parts + `],"role":"model"}`)
		if last {
			b.s(`,"finishReason":"` + finish + `"`)
		}
		b.s(`,"index":0}]`)
		if last {
			usage(b)
		}
		b.s(`,"modelVersion":`).q(p.model).s(`,"responseId":"mock"}`)
	}
	b := &builder{eol: "\r\n"}
	if !p.stream {
		var parts []string
		if p.thinking {
			parts = append(parts, thoughtPart)
		}
		if p.tool != "" {
			parts = append(parts, callPart)
		} else {
			parts = append(parts, `{"text":`+string(appendJSONString(nil, strings.Join(words, " ")))+`}`)
		}
		candidate(b, strings.Join(parts, ","), true)
		b.end(false)
		return &response{frames: b.frames, completion: candidates + thoughts, contentType: "application/json; charset=UTF-8"}
	}
	var parts []string
	if p.thinking {
		parts = append(parts, thoughtPart)
	}
	if p.tool != "" {
		parts = append(parts, callPart)
	} else {
		for _, piece := range pieces(words, s.chunkCount(p.words)) {
			parts = append(parts, `{"text":`+string(appendJSONString(nil, piece))+`}`)
		}
	}
	for i, part := range parts {
		b.event("")
		candidate(b, part, i == len(parts)-1)
		b.endEvent(true)
	}
	return &response{frames: b.frames, completion: candidates + thoughts, stream: true, contentType: "text/event-stream"}
}
