package mockupstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// This file validates requests and plans their answers, one function per
// endpoint. Only the members an answer depends on are read (see jscan.go).

// member returns the raw value of key in the JSON object v, nil when absent.
func member(v []byte, key string) []byte {
	var out []byte
	_ = eachField(v, func(k, val []byte) error {
		if string(k) == key {
			out = val
		}
		return nil
	})
	return out
}

// stringMember reads a string member of the object v ("" when absent).
func stringMember(v []byte, key string) (string, error) {
	var s string
	raw := member(v, key)
	if raw == nil {
		return "", nil
	}
	err := readValue(raw, &s)
	return s, err
}

func present(v []byte) bool { return len(v) > 0 && !isNull(v) }

func checkStreamOptions(stream bool, opts []byte) (includeUsage bool, e *apiError) {
	if !present(opts) {
		return false, nil
	}
	if !stream {
		return false, badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	var o struct {
		IncludeUsage bool `json:"include_usage"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		return false, badRequest("stream_options: " + err.Error())
	}
	return o.IncludeUsage, nil
}

func raw(dst *[]byte) func([]byte) error {
	return func(v []byte) error { *dst = v; return nil }
}

func (s *Server) parseChat(p *parsed, body []byte) *apiError {
	var (
		stream                             bool
		effort                             string
		nMsgs                              int
		lastMsg, streamOpts, tools, choice []byte
		maxTokens, maxCompletion           *int
	)
	e := decodeFields(body,
		field{name: "model", dst: &p.reqModel},
		field{name: "messages", fn: func(v []byte) (err error) { nMsgs, lastMsg, err = lastElem(v); return err }},
		field{name: "stream", dst: &stream},
		field{name: "stream_options", fn: raw(&streamOpts)},
		field{name: "tools", fn: raw(&tools)},
		field{name: "tool_choice", fn: raw(&choice)},
		field{name: "max_tokens", dst: &maxTokens},
		field{name: "max_completion_tokens", dst: &maxCompletion},
		field{name: "reasoning_effort", dst: &effort},
	)
	if e != nil {
		return e
	}
	if p.reqModel == "" {
		return badRequest("you must provide a model parameter")
	}
	if nMsgs == 0 {
		return badRequest("Missing required parameter: 'messages'.")
	}
	var err error
	if p.usageChunk, e = checkStreamOptions(stream, streamOpts); e != nil {
		return e
	}
	limit, name := maxCompletion, "max_completion_tokens"
	if limit == nil {
		limit, name = maxTokens, "max_tokens"
	}
	if e := s.limitWords(p, limit, name); e != nil {
		return e
	}
	p.stream = stream
	p.reasoning = effort != "" && effort != "none"
	mode, toolName, err := openAIToolChoice(choice)
	if err != nil {
		return badRequest("tool_choice: " + err.Error())
	}
	var nTools int
	var first []byte
	if nTools, _, err = lastElem(tools); err != nil {
		return badRequest("tools: " + err.Error())
	}
	_ = eachElem(tools, func(t []byte) error {
		if first == nil {
			first = t
		}
		return nil
	})
	lastRole, err := stringMember(lastMsg, "role")
	if err != nil {
		return badRequest(fmt.Sprintf("messages[%d].role: %v", nMsgs-1, err))
	}
	if nTools == 0 || mode == "none" || lastRole == "tool" {
		return nil
	}
	p.tool = toolName
	if p.tool == "" {
		if p.tool, err = stringMember(member(first, "function"), "name"); err != nil || p.tool == "" {
			return badRequest("tools[0].function.name: missing")
		}
	}
	return nil
}

// openAIToolChoice reads "none"|"auto"|"required" or {"type":"function","function":{"name":...}}.
func openAIToolChoice(v []byte) (mode, name string, err error) {
	if !present(v) {
		return "auto", "", nil
	}
	if v[0] == '"' {
		err = readValue(v, &mode)
		return mode, "", err
	}
	if mode, err = stringMember(v, "type"); err != nil {
		return "", "", err
	}
	name, err = stringMember(member(v, "function"), "name")
	return mode, name, err
}

func (s *Server) parseCompletions(p *parsed, body []byte) *apiError {
	var (
		stream             bool
		prompt, streamOpts []byte
		maxTokens          *int
	)
	e := decodeFields(body,
		field{name: "model", dst: &p.reqModel},
		field{name: "prompt", fn: raw(&prompt)},
		field{name: "stream", dst: &stream},
		field{name: "stream_options", fn: raw(&streamOpts)},
		field{name: "max_tokens", dst: &maxTokens},
	)
	if e != nil {
		return e
	}
	if p.reqModel == "" {
		return badRequest("you must provide a model parameter")
	}
	if !present(prompt) {
		return badRequest("Missing required parameter: 'prompt'.")
	}
	if p.usageChunk, e = checkStreamOptions(stream, streamOpts); e != nil {
		return e
	}
	p.stream = stream
	return s.limitWords(p, maxTokens, "max_tokens")
}

func (s *Server) parseResponses(p *parsed, body []byte) *apiError {
	var (
		input, reasoning []byte
		maxOutput        *int
	)
	e := decodeFields(body,
		field{name: "model", dst: &p.reqModel},
		field{name: "input", fn: raw(&input)},
		field{name: "stream", dst: &p.stream},
		field{name: "max_output_tokens", dst: &maxOutput},
		field{name: "reasoning", fn: raw(&reasoning)},
	)
	if e != nil {
		return e
	}
	if p.reqModel == "" {
		return badRequest("Missing required parameter: 'model'.")
	}
	if !present(input) {
		return badRequest("Missing required parameter: 'input'.")
	}
	effort, err := stringMember(reasoning, "effort")
	if err != nil {
		return badRequest("reasoning.effort: " + err.Error())
	}
	p.reasoning = effort != "" && effort != "none"
	return s.limitWords(p, maxOutput, "max_output_tokens")
}

func (s *Server) parseEmbeddings(p *parsed, body []byte) *apiError {
	var (
		input  []byte
		format string
		dims   int
	)
	e := decodeFields(body,
		field{name: "model", dst: &p.reqModel},
		field{name: "input", fn: raw(&input)},
		field{name: "encoding_format", dst: &format},
		field{name: "dimensions", dst: &dims},
	)
	if e != nil {
		return e
	}
	if p.reqModel == "" {
		return badRequest("you must provide a model parameter")
	}
	inputs, err := embeddingInputs(input)
	if err != nil {
		return badRequest("'$.input' is invalid: " + err.Error())
	}
	if format != "" && format != "float" && format != "base64" {
		return badRequest("encoding_format: want float or base64")
	}
	if dims < 0 || dims > 65536 {
		return badRequest("dimensions: want 1..65536")
	}
	if dims == 0 {
		dims = s.opts.EmbeddingDims
	}
	model := p.reqModel
	if s.opts.Model != "" {
		model = s.opts.Model
	}
	p.resp = buildEmbeddings(model, inputs, dims, format == "base64")
	return nil
}

// embeddingInputs reads a string, an array of strings, a token array or an
// array of token arrays.
func embeddingInputs(v []byte) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
		return nil, errInputShape
	}
	var tokens []int
	if json.Unmarshal(v, &tokens) == nil {
		return []string{string(v)}, nil
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		if json.Unmarshal(item, &one) == nil {
			out = append(out, one)
			continue
		}
		if err := json.Unmarshal(item, &tokens); err != nil {
			return nil, errInputShape
		}
		out = append(out, string(item))
	}
	return out, nil
}

var errInputShape = errors.New("want a string, an array of strings or token arrays")

func (s *Server) parseMessages(p *parsed, ep endpoint, r *http.Request, body []byte) *apiError {
	var (
		maxTokens                         *int
		nMsgs                             int
		lastRole                          string
		lastContent, tools, choice, think []byte
		sigErr                            *apiError
	)
	readMessages := func(v []byte) error {
		return eachElem(v, func(m []byte) error {
			role, err := stringMember(m, "role")
			if err != nil {
				return fmt.Errorf("%d.role: %w", nMsgs, err)
			}
			content := member(m, "content")
			if role == "assistant" && sigErr == nil {
				sigErr = checkThinkingSignatures(nMsgs, content)
			}
			nMsgs, lastRole, lastContent = nMsgs+1, role, content
			return nil
		})
	}
	e := decodeFields(body,
		field{name: "model", dst: &p.reqModel},
		field{name: "max_tokens", dst: &maxTokens},
		field{name: "messages", fn: readMessages},
		field{name: "stream", dst: &p.stream},
		field{name: "tools", fn: raw(&tools)},
		field{name: "tool_choice", fn: raw(&choice)},
		field{name: "thinking", fn: raw(&think)},
	)
	if r.Header.Get("anthropic-version") == "" {
		return badRequest("anthropic-version: header is required")
	}
	switch {
	case e != nil:
		return e
	case p.reqModel == "":
		return badRequest("model: Field required")
	case nMsgs == 0:
		return badRequest("messages: Field required")
	case sigErr != nil:
		return sigErr
	case ep == epCountTokens:
		p.stream = false
		return nil
	case maxTokens == nil:
		return badRequest("max_tokens: Field required")
	}
	if e := s.limitWords(p, maxTokens, "max_tokens"); e != nil {
		return e
	}
	if present(think) {
		var t struct {
			Type         string `json:"type"`
			BudgetTokens int    `json:"budget_tokens"`
		}
		if err := json.Unmarshal(think, &t); err != nil {
			return badRequest("thinking: " + err.Error())
		}
		switch t.Type {
		case "enabled":
			if t.BudgetTokens < 1024 {
				return badRequest("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
			}
			if t.BudgetTokens >= *maxTokens {
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
	mode, err := stringMember(choice, "type")
	if err != nil {
		return badRequest("tool_choice.type: " + err.Error())
	}
	nTools, _, err := lastElem(tools)
	if err != nil {
		return badRequest("tools: " + err.Error())
	}
	if nTools == 0 || mode == "none" || (lastRole == "user" && hasBlock(lastContent, "tool_result")) {
		return nil
	}
	if mode == "tool" {
		p.tool, err = stringMember(choice, "name")
	} else {
		var first []byte
		_ = eachElem(tools, func(t []byte) error {
			if first == nil {
				first = t
			}
			return nil
		})
		p.tool, err = stringMember(first, "name")
	}
	if err != nil || p.tool == "" {
		return badRequest("tools.0.name: Field required")
	}
	return nil
}

// hasBlock reports whether Anthropic message content (a string or an array
// of blocks) holds a block of the type.
func hasBlock(content []byte, typ string) bool {
	found := false
	_ = eachElem(content, func(b []byte) error {
		if t, _ := stringMember(b, "type"); t == typ {
			found = true
		}
		return nil
	})
	return found
}

// checkThinkingSignatures rejects assistant thinking blocks whose signature
// is not the one the mock gave them, as the real API does: a gateway must
// carry signed thinking back unchanged.
func checkThinkingSignatures(msg int, content []byte) *apiError {
	if len(content) == 0 || content[0] != '[' {
		return nil
	}
	j := 0
	var bad *apiError
	_ = eachElem(content, func(b []byte) error {
		if t, _ := stringMember(b, "type"); t == "thinking" && bad == nil {
			thinking, err1 := stringMember(b, "thinking")
			sig, err2 := stringMember(b, "signature")
			if err1 != nil || err2 != nil || sig != Signature(thinking) {
				bad = badRequest(fmt.Sprintf("messages.%d.content.%d: Invalid `signature` in `thinking` block", msg, j))
			}
		}
		j++
		return nil
	})
	return bad
}

func (s *Server) parseGemini(p *parsed, ep endpoint, r *http.Request, body []byte, model string) *apiError {
	p.reqModel = model
	var (
		nContents               int
		last, tools, toolConfig []byte
		genConfig               []byte
	)
	e := decodeFields(body,
		field{name: "contents", fn: func(v []byte) (err error) { nContents, last, err = lastElem(v); return err }},
		field{name: "tools", fn: raw(&tools)},
		field{name: "toolConfig", fn: raw(&toolConfig)},
		field{name: "generationConfig", fn: raw(&genConfig)},
	)
	switch {
	case e != nil:
		return e
	case ep == epGeminiCountTokens:
		return nil
	case nContents == 0:
		return badRequest("* GenerateContentRequest.contents: contents is not specified")
	}
	if ep == epGeminiStream {
		if r.URL.Query().Get("alt") != "sse" {
			return badRequest("mock upstream: streamGenerateContent is served as SSE only; add ?alt=sse")
		}
		p.stream = true
	}
	var gc struct {
		MaxOutputTokens *int `json:"maxOutputTokens"`
		ThinkingConfig  *struct {
			IncludeThoughts bool `json:"includeThoughts"`
			ThinkingBudget  *int `json:"thinkingBudget"`
		} `json:"thinkingConfig"`
	}
	if present(genConfig) {
		if err := json.Unmarshal(genConfig, &gc); err != nil {
			return badRequest("generationConfig: " + err.Error())
		}
	}
	if t := gc.ThinkingConfig; t != nil {
		p.thinking = t.IncludeThoughts
		p.reasoning = t.IncludeThoughts || (t.ThinkingBudget != nil && *t.ThinkingBudget != 0)
	}
	if e := s.limitWords(p, gc.MaxOutputTokens, "generationConfig.maxOutputTokens"); e != nil {
		return e
	}
	var tc struct {
		FunctionCallingConfig struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	}
	if present(toolConfig) {
		if err := json.Unmarshal(toolConfig, &tc); err != nil {
			return badRequest("toolConfig: " + err.Error())
		}
	}
	fcc := tc.FunctionCallingConfig
	answered := false
	_ = eachElem(member(last, "parts"), func(part []byte) error {
		answered = answered || present(member(part, "functionResponse"))
		return nil
	})
	if fcc.Mode == "NONE" || answered {
		return nil
	}
	if len(fcc.AllowedFunctionNames) > 0 {
		p.tool = fcc.AllowedFunctionNames[0]
		return nil
	}
	declared := false
	_ = eachElem(tools, func(t []byte) error {
		return eachElem(member(t, "functionDeclarations"), func(d []byte) error {
			if !declared {
				declared = true
				p.tool, _ = stringMember(d, "name")
			}
			return nil
		})
	})
	if declared && p.tool == "" {
		return badRequest("* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.")
	}
	return nil
}
