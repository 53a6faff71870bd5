package mockupstream

import (
	"net/http"
	"strings"
)

// endpoint is one provider operation the mock serves.
type endpoint uint8

const (
	epUnknown endpoint = iota
	epChat
	epCompletions
	epEmbeddings
	epResponses
	epModels
	epMessages
	epCountTokens
	epGeminiGenerate
	epGeminiStream
	epGeminiCountTokens
	epGeminiModels
)

func (e endpoint) dialect() dialect {
	switch e {
	case epMessages, epCountTokens:
		return dialectAnthropic
	case epGeminiGenerate, epGeminiStream, epGeminiCountTokens, epGeminiModels:
		return dialectGemini
	}
	return dialectOpenAI
}

func (e endpoint) method() string {
	if e == epModels || e == epGeminiModels {
		return http.MethodGet
	}
	return http.MethodPost
}

const geminiPrefix = "/v1beta/models/"

// route maps a path to its endpoint and, for Gemini, the model in the path.
func route(path string) (endpoint, string) {
	switch path {
	case "/v1/chat/completions":
		return epChat, ""
	case "/v1/completions":
		return epCompletions, ""
	case "/v1/embeddings":
		return epEmbeddings, ""
	case "/v1/responses":
		return epResponses, ""
	case "/v1/models":
		return epModels, ""
	case "/v1/messages":
		return epMessages, ""
	case "/v1/messages/count_tokens":
		return epCountTokens, ""
	case "/v1beta/models":
		return epGeminiModels, ""
	}
	rest, ok := strings.CutPrefix(path, geminiPrefix)
	if !ok {
		return epUnknown, ""
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return epUnknown, ""
	}
	model := rest[:i]
	switch rest[i+1:] {
	case "generateContent":
		return epGeminiGenerate, model
	case "streamGenerateContent":
		return epGeminiStream, model
	case "countTokens":
		return epGeminiCountTokens, model
	}
	return epUnknown, ""
}

// dialectOfPath picks the error shape for a path no endpoint serves.
func dialectOfPath(path string) dialect {
	switch {
	case strings.HasPrefix(path, "/v1beta/"):
		return dialectGemini
	case strings.HasPrefix(path, "/v1/messages"):
		return dialectAnthropic
	}
	return dialectOpenAI
}

// plan is the shape of an answer; equal plans get the same prepared
// response, so it is the cache key.
type plan struct {
	ep endpoint
	// model is the model name the answer carries.
	model      string
	stream     bool
	usageChunk bool // OpenAI stream_options.include_usage
	words      int
	truncated  bool   // the reply was cut at the request's token limit
	tool       string // the tool to call; "" for a text answer
	thinking   bool   // emit thinking content (Anthropic, Gemini)
	reasoning  bool   // count reasoning tokens (OpenAI, Gemini thinking budget)
}

// parsed is a validated request.
type parsed struct {
	plan
	// reqModel is the model the request asked for (faults match on it).
	reqModel string
	prompt   int
	// resp, when set, is a per-request answer that is not cached.
	resp *response
}

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: msg}
}

// parse validates the request of ep and plans its answer.
func (s *Server) parse(ep endpoint, r *http.Request, body []byte, pathModel string) (parsed, *apiError) {
	var p parsed
	var e *apiError
	switch ep {
	case epChat:
		e = s.parseChat(&p, body)
	case epCompletions:
		e = s.parseCompletions(&p, body)
	case epEmbeddings:
		e = s.parseEmbeddings(&p, body)
	case epResponses:
		e = s.parseResponses(&p, body)
	case epMessages, epCountTokens:
		e = s.parseMessages(&p, ep, r, body)
	case epGeminiGenerate, epGeminiStream, epGeminiCountTokens:
		e = s.parseGemini(&p, ep, r, body, pathModel)
	}
	if e != nil {
		return p, e
	}
	p.ep = ep
	if s.opts.PromptTokens > 0 {
		p.prompt = s.opts.PromptTokens
	} else {
		p.prompt = PromptTokensFor(body)
	}
	p.model = p.reqModel
	if s.opts.Model != "" {
		p.model = s.opts.Model
	}
	if p.words == 0 {
		p.words = s.opts.Words
	}
	switch ep {
	case epCountTokens:
		p.resp = anthropicCountTokens
	case epGeminiCountTokens:
		p.resp = geminiCountTokens
	}
	return p, nil
}

// limitWords applies a request's output token limit to the reply length.
func (s *Server) limitWords(p *parsed, limit *int, name string) *apiError {
	p.words = s.opts.Words
	if limit == nil {
		return nil
	}
	if *limit < 1 {
		return badRequest(name + ": must be at least 1")
	}
	if *limit < p.words {
		p.words, p.truncated = *limit, true
	}
	return nil
}

// build prepares the answer of a plan.
func (s *Server) build(p plan) *response {
	switch p.ep {
	case epChat:
		return s.buildChat(p)
	case epCompletions:
		return s.buildCompletions(p)
	case epResponses:
		return s.buildResponses(p)
	case epMessages:
		return s.buildMessages(p)
	case epGeminiGenerate, epGeminiStream:
		return s.buildGemini(p)
	}
	panic("mockupstream: no builder for endpoint") // parse never plans one
}

var (
	anthropicCountTokens = countTokensResponse(epCountTokens)
	geminiCountTokens    = countTokensResponse(epGeminiCountTokens)
)

// countTokensResponse answers Anthropic count_tokens and Gemini countTokens.
func countTokensResponse(ep endpoint) *response {
	b := &builder{}
	if ep == epCountTokens {
		b.s(`{"input_tokens":`).hole(holePrompt).s(`}`)
	} else {
		b.s(`{"totalTokens":`).hole(holePrompt).s(`,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`).hole(holePrompt).s(`}]}`)
	}
	b.end(false)
	return &response{frames: b.frames, contentType: "application/json"}
}

func (s *Server) buildModelLists() {
	b := []byte(`{"object":"list","data":[`)
	for i, m := range s.opts.Models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, m)
		b = append(b, `,"object":"model","created":1700000000,"owned_by":"mock"}`...)
	}
	s.modelsOpenAI = append(b, `]}`...)

	b = []byte(`{"data":[`)
	for i, m := range s.opts.Models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"model","id":`...)
		b = appendJSONString(b, m)
		b = append(b, `,"display_name":`...)
		b = appendJSONString(b, m)
		b = append(b, `,"created_at":"2023-11-14T22:13:20Z"}`...)
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	b = appendJSONString(b, s.opts.Models[0])
	b = append(b, `,"last_id":`...)
	b = appendJSONString(b, s.opts.Models[len(s.opts.Models)-1])
	s.modelsAnthropic = append(b, `}`...)

	b = []byte(`{"models":[`)
	for i, m := range s.opts.Models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, "models/"+m)
		b = append(b, `,"displayName":`...)
		b = appendJSONString(b, m)
		b = append(b, `,"supportedGenerationMethods":["generateContent","countTokens"]}`...)
	}
	s.modelsGemini = append(b, `]}`...)
}

func (s *Server) serveModels(w http.ResponseWriter, d dialect) {
	b := s.modelsOpenAI
	switch d {
	case dialectAnthropic:
		b = s.modelsAnthropic
	case dialectGemini:
		b = s.modelsGemini
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
