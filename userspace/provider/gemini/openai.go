package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/anthropic"
	schema "github.com/weir-gateway/weir/userspace/schema/gemini"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

// OpenAI chat client → Gemini provider.
//
// Request rules (golden cases under testdata/openai_gemini):
//   - Leading system/developer messages become systemInstruction (one text
//     part each); later ones cannot be expressed and are rejected.
//   - user → "user", assistant → "model", tool messages → functionResponse
//     parts of one user turn (see the package comment for ids, names and
//     order). Images: base64 data URLs → inlineData, http(s) URLs → fileData
//     with the media type from the extension; input_audio wav/mp3 →
//     inlineData; file_data → inlineData. "detail" has no Gemini equivalent.
//   - reasoning_content and thinking_blocks of earlier assistant messages
//     are not sent: Gemini takes no foreign reasoning, and its own state
//     travels as thought signatures in the tool call ids.
//   - tools → functionDeclarations with schemas cleaned by CleanSchema
//     ("strict" is not sent); tool_choice auto/none/required/{function} →
//     AUTO/NONE/ANY/ANY+allowedFunctionNames.
//   - max_completion_tokens (else max_tokens) → maxOutputTokens, stop →
//     stopSequences, temperature/top_p/top_k/presence_penalty/
//     frequency_penalty/seed → generationConfig; response_format
//     json_object → responseMimeType application/json, json_schema → also
//     responseSchema (cleaned, with propertyOrdering); reasoning_effort →
//     thinkingConfig {thinkingBudget (schema EffortBudget), includeThoughts}
//     ("none" → budget 0).
//   - user, store, metadata (OpenAI platform bookkeeping) and a message's
//     "name" have no Gemini equivalent and are not sent.
//   - n > 1 → candidateCount; each candidate is a choice with its index.
//   - Rejected with a 400 naming the feature: logprobs, top_logprobs,
//     logit_bias, audio output, predicted outputs, legacy functions,
//     parallel_tool_calls=false (Gemini has no switch for it), service tiers
//     other than auto, file ids and unknown top-level fields.
//
// Responses: thought parts → reasoning_content, text → content, function
// calls → tool_calls; STOP → stop (tool_calls when the answer calls
// functions), MAX_TOKENS → length, SAFETY/RECITATION/BLOCKLIST/… and a
// blocked prompt → content_filter, anything else (MALFORMED_FUNCTION_CALL,
// OTHER, …) → stop. Usage: prompt_tokens = promptTokenCount (+ tool-use
// prompt), completion_tokens = candidates + thoughts, reasoning_tokens =
// thoughtsTokenCount, cached_tokens = cachedContentTokenCount.

func init() {
	register(provider.OpenAIChat, func() provider.Translator { return &fromOpenAI{} })
}

type chatRequest struct {
	openai.ChatCompletionRequest
	TopK *int64 `json:"top_k,omitempty"`
}

type fromOpenAI struct {
	model        string
	includeUsage bool
	created      int64
	usage        provider.Usage

	// stream state
	started bool
	id      string
	respID  string
	choices map[int]*choiceState // by candidate index
	blocked bool
}

// choiceState is the stream state of one candidate.
type choiceState struct {
	ids      callIDs
	tools    int
	finish   string
	sawCalls bool
}

// candidateIDs gives the calls of candidate i ids distinct from the other
// candidates' (candidate 0 keeps the plain response id).
func candidateIDs(respID string, i int) callIDs {
	if i == 0 {
		return callIDs{responseID: respID}
	}
	return callIDs{responseID: fmt.Sprintf("%s/%d", respID, i)}
}

func (t *fromOpenAI) Request(req *provider.Request, upstreamModel string) (*provider.Upstream, error) {
	if err := provider.CheckFields(req.Body, openai.ChatRequestFields, "gemini", "top_k"); err != nil {
		return nil, err
	}
	var in chatRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, badRequest("invalid chat completions request: %v", err)
	}
	out, err := chatToGemini(&in)
	if err != nil {
		return nil, err
	}
	t.model, t.includeUsage, t.created = upstreamModel, req.IncludeUsage, now().Unix()
	method := "generateContent"
	if req.Stream {
		method = "streamGenerateContent"
	}
	return upstream(upstreamModel, method, req.Stream, out)
}

func checkChat(in *openai.ChatCompletionRequest) error {
	switch {
	case in.Logprobs != nil && *in.Logprobs:
		return unsupported("logprobs")
	case in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return unsupported("top_logprobs")
	case len(in.LogitBias) > 0:
		return unsupported("logit_bias")
	case len(in.Audio) > 0 && string(in.Audio) != "null",
		slices.ContainsFunc(in.Modalities, func(m string) bool { return m != "text" }):
		return unsupported("audio output")
	case len(in.Prediction) > 0 && string(in.Prediction) != "null":
		return unsupported("predicted outputs (prediction)")
	case len(in.Functions) > 0 || (len(in.FunctionCall) > 0 && string(in.FunctionCall) != "null"):
		return unsupported("legacy functions/function_call (use tools)")
	case in.ParallelToolCalls != nil && !*in.ParallelToolCalls && len(in.Tools) > 0:
		return unsupported("parallel_tool_calls=false")
	case in.ServiceTier != "" && in.ServiceTier != "auto":
		return unsupported(fmt.Sprintf("service_tier %q", in.ServiceTier))
	}
	return nil
}

func chatToGemini(in *chatRequest) (*schema.GenerateContentRequest, error) {
	if err := checkChat(&in.ChatCompletionRequest); err != nil {
		return nil, err
	}
	out := &schema.GenerateContentRequest{}
	if err := chatContents(in.Messages, out); err != nil {
		return nil, err
	}
	if err := chatTools(&in.ChatCompletionRequest, out); err != nil {
		return nil, err
	}
	gc := &schema.GenerationConfig{Temperature: in.Temperature, TopP: in.TopP, TopK: in.TopK,
		PresencePenalty: in.PresencePenalty, FrequencyPenalty: in.FrequencyPenalty, Seed: in.Seed,
		MaxOutputTokens: in.MaxCompletionTokens}
	if in.N != nil && *in.N > 1 {
		gc.CandidateCount = in.N
	}
	if gc.MaxOutputTokens == nil {
		gc.MaxOutputTokens = in.MaxTokens
	}
	stops, err := in.StopSequences()
	if err != nil {
		return nil, badRequest("%v", err)
	}
	gc.StopSequences = stops
	if rf := in.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", openai.ResponseFormatText:
		case openai.ResponseFormatJSONObject:
			gc.ResponseMimeType = "application/json"
		case openai.ResponseFormatJSONSchema:
			gc.ResponseMimeType = "application/json"
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return nil, badRequest("response_format.json_schema.schema is required")
			}
			s, err := schema.CleanSchema(rf.JSONSchema.Schema, true)
			if err != nil {
				return nil, badRequest("response_format.json_schema.schema: %v", err)
			}
			gc.ResponseSchema = s
		default:
			return nil, unsupported(fmt.Sprintf("response_format %q", rf.Type))
		}
	}
	if e := in.ReasoningEffort; e != "" {
		budget, ok := anthropic.EffortBudget(e)
		if !ok {
			return nil, badRequest("reasoning_effort %q is not one of none, minimal, low, medium, high, xhigh", e)
		}
		gc.ThinkingConfig = &schema.ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: budget > 0}
	}
	if !gc.IsZero() {
		out.GenerationConfig = gc
	}
	return out, nil
}

func chatContents(msgs []openai.ChatMessage, out *schema.GenerateContentRequest) error {
	turn := &toolTurn{calls: map[string]callRef{}}
	leading := true
	for i, m := range msgs {
		where := fmt.Sprintf("messages[%d]", i)
		if m.Role != openai.RoleTool && len(turn.parts) > 0 {
			out.Contents = appendContent(out.Contents, "user", turn.flush())
		}
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			if !leading {
				return unsupported(fmt.Sprintf("a %s message after the conversation started (%s)", m.Role, where))
			}
			if out.SystemInstruction == nil {
				out.SystemInstruction = &schema.Content{}
			}
			out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, schema.Part{Text: m.Content.JoinText()})
			continue
		case openai.RoleUser:
			parts, err := chatParts(m.Content, where)
			if err != nil {
				return err
			}
			out.Contents = appendContent(out.Contents, "user", parts)
		case openai.RoleAssistant:
			var parts []schema.Part
			if text := m.Content.JoinText() + m.Refusal; text != "" {
				parts = append(parts, schema.Part{Text: text})
			}
			if m.FunctionCall != nil {
				return unsupported("legacy function_call in an assistant message (use tool_calls)")
			}
			for j, tc := range m.ToolCalls {
				args, err := tc.Function.ArgumentsObject()
				if err != nil {
					return badRequest("%s.tool_calls[%d].function.arguments: %v", where, j, err)
				}
				turn.calls[tc.ID] = callRef{name: tc.Function.Name, pos: j}
				parts = append(parts, schema.Part{ThoughtSignature: signatureOf(tc.ID),
					FunctionCall: &schema.FunctionCall{Name: tc.Function.Name, Args: args}})
			}
			out.Contents = appendContent(out.Contents, "model", parts)
		case openai.RoleTool:
			if err := turn.add(m.ToolCallID, functionResponse(m.Content.JoinText(), false), where); err != nil {
				return err
			}
		case "function":
			return unsupported("legacy function messages (use tools)")
		default:
			return badRequest("%s: unknown role %q", where, m.Role)
		}
		leading = false
	}
	out.Contents = appendContent(out.Contents, "user", turn.flush())
	if out.Contents == nil {
		out.Contents = []schema.Content{}
	}
	return nil
}

func chatParts(c openai.Content, where string) ([]schema.Part, error) {
	if c.IsString {
		return []schema.Part{{Text: c.Text}}, nil
	}
	parts := make([]schema.Part, 0, len(c.Parts))
	for j, p := range c.Parts {
		at := fmt.Sprintf("%s.content[%d]", where, j)
		switch p.Type {
		case openai.PartText:
			parts = append(parts, schema.Part{Text: p.Text})
		case openai.PartRefusal:
			parts = append(parts, schema.Part{Text: p.Refusal})
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, badRequest("%s: image_url part without image_url", at)
			}
			part, err := urlPart(p.ImageURL.URL, at)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		case openai.PartInputAudio:
			if p.InputAudio == nil || (p.InputAudio.Format != "wav" && p.InputAudio.Format != "mp3") {
				return nil, badRequest("%s: input_audio needs data and a format of wav or mp3", at)
			}
			parts = append(parts, schema.Part{InlineData: &schema.Blob{MimeType: "audio/" + p.InputAudio.Format, Data: p.InputAudio.Data}})
		case openai.PartFile:
			if p.File == nil || p.File.FileData == "" {
				return nil, unsupported("file parts without inline file_data (file ids)")
			}
			part, err := urlPart(p.File.FileData, at)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		default:
			return nil, unsupported(fmt.Sprintf("content part type %q", p.Type))
		}
	}
	return parts, nil
}

// urlPart is the part of a base64 data URL (inlineData) or an http(s) URL (fileData).
func urlPart(u, at string) (schema.Part, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mt, b64 := strings.CutSuffix(meta, ";base64")
		if !found || !b64 {
			return schema.Part{}, badRequest("%s: data URL must be base64", at)
		}
		return schema.Part{InlineData: &schema.Blob{MimeType: mt, Data: data}}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "gs://") {
		return fileData(u, at)
	}
	return schema.Part{}, badRequest("%s: url must be an http(s) or base64 data URL", at)
}

func chatTools(in *openai.ChatCompletionRequest, out *schema.GenerateContentRequest) error {
	var decls []schema.FunctionDeclaration
	for i, t := range in.Tools {
		if t.Type != "function" {
			return unsupported(fmt.Sprintf("tool type %q", t.Type))
		}
		params, err := cleanParameters(t.Function.Parameters, fmt.Sprintf("tools[%d].function.parameters", i))
		if err != nil {
			return err
		}
		decls = append(decls, schema.FunctionDeclaration{Name: t.Function.Name, Description: t.Function.Description, Parameters: params})
	}
	if decls != nil {
		out.Tools = []schema.Tool{{FunctionDeclarations: decls}}
	}
	raw := bytes.TrimSpace(in.ToolChoice)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	fc := &schema.FunctionCallingConfig{}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case openai.ToolChoiceAuto:
			fc.Mode = schema.ModeAuto
		case openai.ToolChoiceNone:
			fc.Mode = schema.ModeNone
		case openai.ToolChoiceRequired:
			fc.Mode = schema.ModeAny
		default:
			return badRequest("tool_choice %q is not one of none, auto, required", mode)
		}
	} else {
		var fn openai.ToolChoiceFunction
		if err := json.Unmarshal(raw, &fn); err != nil || fn.Type != "function" || fn.Function.Name == "" {
			return unsupported("tool_choice other than none, auto, required or a function")
		}
		fc.Mode, fc.AllowedFunctionNames = schema.ModeAny, []string{fn.Function.Name}
	}
	if decls == nil {
		if fc.Mode == schema.ModeAny {
			return badRequest("tool_choice requires tools")
		}
		return nil
	}
	out.ToolConfig = &schema.ToolConfig{FunctionCallingConfig: fc}
	return nil
}

// openAIFinish maps a Gemini finish reason.
func openAIFinish(reason string, calls bool) string {
	switch {
	case reason == schema.FinishMaxTokens:
		return openai.FinishLength
	case schema.IsBlocked(reason):
		return openai.FinishContentFilter
	case calls:
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

func openAIUsage(u provider.Usage) *openai.Usage {
	return &openai.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.Total(),
		PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: u.CachedInputTokens},
		CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens}}
}

func (t *fromOpenAI) Response(body []byte) ([]byte, provider.Usage, error) {
	r, err := decodeChunk(body)
	if err != nil {
		return nil, provider.Usage{}, err
	}
	t.usage = geminiUsage(r.UsageMetadata)
	var choices []openai.ChatChoice
	switch {
	case len(r.Candidates) > 0:
		for i, cand := range r.Candidates {
			ids := candidateIDs(responseID(r, body), cand.Index)
			choices = append(choices, candidateChoice(i, cand, &ids))
		}
	case r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "":
		choices = []openai.ChatChoice{{Message: openai.ChatMessage{Role: openai.RoleAssistant}, FinishReason: openai.FinishContentFilter}}
	default:
		return nil, provider.Usage{}, errors.New("gemini response without candidates")
	}
	model := r.ModelVersion
	if model == "" {
		model = t.model
	}
	out := openai.ChatCompletion{ID: "chatcmpl-" + responseID(r, body), Object: "chat.completion", Created: t.created, Model: model,
		Choices: choices, Usage: openAIUsage(t.usage)}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, provider.Usage{}, fmt.Errorf("encode chat completion: %w", err)
	}
	return b, t.usage, nil
}

// candidateChoice converts one candidate of a complete answer.
func candidateChoice(i int, cand schema.Candidate, ids *callIDs) openai.ChatChoice {
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	var text, reasoning strings.Builder
	hasText := false
	if c := cand.Content; c != nil {
		for _, p := range c.Parts {
			switch {
			case p.FunctionCall != nil:
				msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: ids.next(p.FunctionCall, p.ThoughtSignature), Type: "function",
					Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: argsText(p.FunctionCall.Args)}})
			case p.Thought:
				reasoning.WriteString(p.Text)
			case p.Text != "":
				text.WriteString(p.Text)
				hasText = true
			}
		}
	}
	if hasText {
		msg.Content = openai.TextContent(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	return openai.ChatChoice{Index: i, Message: msg, FinishReason: openAIFinish(cand.FinishReason, len(msg.ToolCalls) > 0)}
}

func argsText(args json.RawMessage) string {
	if len(args) == 0 {
		return "{}"
	}
	return string(args)
}

func (t *fromOpenAI) chunk(index int, d openai.Delta, finish *string) []byte {
	b, _ := json.Marshal(openai.ChatCompletionChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []openai.ChunkChoice{{Index: index, Delta: d, FinishReason: finish}}})
	return sse.AppendEvent(nil, sse.Event{Data: b})
}

func (t *fromOpenAI) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	r, err := decodeChunk(ev.Data)
	if err != nil {
		return provider.Chunk{}, err
	}
	var out []byte
	content := false
	if !t.started {
		t.started = true
		t.respID = responseID(r, ev.Data)
		t.id = "chatcmpl-" + t.respID
		t.choices = map[int]*choiceState{}
		if r.ModelVersion != "" {
			t.model = r.ModelVersion
		}
	}
	if r.UsageMetadata != nil {
		t.usage = geminiUsage(r.UsageMetadata)
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" && !t.blocked && len(t.choices) == 0 {
			t.blocked = true
			out = append(out, t.chunk(0, openai.Delta{Role: openai.RoleAssistant}, nil)...)
			fr := openai.FinishContentFilter
			out = append(out, t.chunk(0, openai.Delta{}, &fr)...)
		}
		return provider.Chunk{Data: out}, nil
	}
	for _, cand := range r.Candidates {
		cs := t.choices[cand.Index]
		if cs == nil {
			cs = &choiceState{ids: candidateIDs(t.respID, cand.Index)}
			t.choices[cand.Index] = cs
			out = append(out, t.chunk(cand.Index, openai.Delta{Role: openai.RoleAssistant}, nil)...)
		}
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				var d openai.Delta
				switch {
				case p.FunctionCall != nil:
					d.ToolCalls = []openai.ToolCallDelta{{Index: cs.tools, ID: cs.ids.next(p.FunctionCall, p.ThoughtSignature), Type: "function",
						Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: argsText(p.FunctionCall.Args)}}}
					cs.tools++
					cs.sawCalls = true
				case p.Thought && p.Text != "":
					d.ReasoningContent = p.Text
				case p.Text != "":
					d.Content = p.Text
				default:
					continue
				}
				out = append(out, t.chunk(cand.Index, d, nil)...)
				content = true
			}
		}
		if cand.FinishReason != "" && cs.finish == "" {
			cs.finish = openAIFinish(cand.FinishReason, cs.sawCalls)
			out = append(out, t.chunk(cand.Index, openai.Delta{}, &cs.finish)...)
		}
	}
	return provider.Chunk{Data: out, Content: content}, nil
}

func (t *fromOpenAI) StreamEnd() ([]byte, error) {
	finished := t.blocked || len(t.choices) > 0
	for _, cs := range t.choices {
		finished = finished && cs.finish != ""
	}
	if !finished {
		return nil, truncated()
	}
	var out []byte
	if t.includeUsage {
		b, _ := json.Marshal(openai.ChatCompletionChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
			Choices: []openai.ChunkChoice{}, Usage: openAIUsage(t.usage)})
		out = sse.AppendEvent(out, sse.Event{Data: b})
	}
	return append(out, "data: [DONE]\n\n"...), nil
}

func (t *fromOpenAI) StreamError(status int, message string) []byte {
	return sse.AppendEvent(nil, sse.Event{Data: openai.MarshalError(message, openai.ErrorType(status), "")})
}

func (t *fromOpenAI) Usage() provider.Usage { return t.usage }

// Error converts a Gemini error body to OpenAI's envelope; Gemini's status
// name (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, …) becomes the code.
func (t *fromOpenAI) Error(status int, body []byte) []byte {
	msg, code := errorMessage(status, body)
	return openai.MarshalError(msg, openai.ErrorType(status), code)
}
