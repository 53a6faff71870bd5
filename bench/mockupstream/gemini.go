package mockupstream

import (
	"encoding/json"
	"net/http"
	"strings"
)

type geminiRequest struct {
	Contents []struct {
		Role  string `json:"role"`
		Parts []struct {
			FunctionResponse json.RawMessage `json:"functionResponse"`
		} `json:"parts"`
	} `json:"contents"`
	Tools []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		MaxOutputTokens *int `json:"maxOutputTokens"`
		ThinkingConfig  *struct {
			IncludeThoughts bool `json:"includeThoughts"`
			ThinkingBudget  *int `json:"thinkingBudget"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
}

func (s *Server) parseGemini(p *parsed, ep endpoint, r *http.Request, body []byte, model string) *apiError {
	p.reqModel = model
	var req geminiRequest
	if e := decode(body, &req); e != nil {
		return e
	}
	if ep == epGeminiCountTokens {
		return nil
	}
	if len(req.Contents) == 0 {
		return badRequest("* GenerateContentRequest.contents: contents is not specified")
	}
	if ep == epGeminiStream {
		if r.URL.Query().Get("alt") != "sse" {
			return badRequest("mock upstream: streamGenerateContent is served as SSE only; add ?alt=sse")
		}
		p.stream = true
	}
	var limit *int
	if g := req.GenerationConfig; g != nil {
		limit = g.MaxOutputTokens
		if t := g.ThinkingConfig; t != nil {
			p.thinking = t.IncludeThoughts
			p.reasoning = t.IncludeThoughts || (t.ThinkingBudget != nil && *t.ThinkingBudget != 0)
		}
	}
	if e := s.limitWords(p, limit, "generationConfig.maxOutputTokens"); e != nil {
		return e
	}
	mode := "AUTO"
	var allowed []string
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		if tc.FunctionCallingConfig.Mode != "" {
			mode = tc.FunctionCallingConfig.Mode
		}
		allowed = tc.FunctionCallingConfig.AllowedFunctionNames
	}
	if mode == "NONE" || lastHasFunctionResponse(&req) {
		return nil
	}
	if len(allowed) > 0 {
		p.tool = allowed[0]
		return nil
	}
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			if d.Name == "" {
				return badRequest("* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.")
			}
			p.tool = d.Name
			return nil
		}
	}
	return nil
}

func lastHasFunctionResponse(req *geminiRequest) bool {
	last := req.Contents[len(req.Contents)-1]
	for _, part := range last.Parts {
		if len(part.FunctionResponse) > 0 && string(part.FunctionResponse) != "null" {
			return true
		}
	}
	return false
}

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
