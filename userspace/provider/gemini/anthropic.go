package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/anthropic"
	schema "github.com/weir-gateway/weir/userspace/schema/gemini"
	"github.com/weir-gateway/weir/userspace/sse"
)

// Anthropic Messages client → Gemini provider.
//
// Request rules (golden cases under testdata/anthropic_gemini):
//   - system → systemInstruction (one text part per block); user →
//     "user", assistant → "model"; consecutive turns of one role merge.
//   - Images and documents: base64 sources → inlineData, url sources →
//     fileData with the media type from the extension, text documents →
//     text parts.
//   - tool_use → functionCall (the thought signature comes from the id, see
//     the package comment); tool_result → functionResponse named after its
//     tool_use, response {"content": text} (a JSON-object result as is,
//     {"error": text} when is_error); images inside a tool_result follow
//     the function responses as inlineData parts of the same turn.
//   - thinking and redacted_thinking blocks are not sent: their signatures
//     are Anthropic's, which Gemini cannot verify, and Gemini's own
//     reasoning state travels in the tool_use ids.
//   - cache_control (Anthropic prompt caching) and metadata.user_id have no
//     Gemini equivalent and are not sent.
//   - max_tokens → maxOutputTokens, stop_sequences → stopSequences,
//     temperature/top_p/top_k as is; thinking enabled → thinkingConfig
//     {thinkingBudget: budget_tokens, includeThoughts}, adaptive → budget -1
//     (dynamic), disabled → budget 0; tools → functionDeclarations (schemas
//     cleaned by CleanSchema); tool_choice auto/any/tool/none →
//     AUTO/ANY/ANY+allowedFunctionNames/NONE.
//   - Rejected with a 400 naming the feature: server tools,
//     disable_parallel_tool_use (Gemini has no switch for it), service tiers
//     other than auto, unknown top-level fields.
//
// count_tokens → :countTokens with the translated request; totalTokens
// becomes input_tokens. Counting consumes no tokens.
//
// Responses: thought parts → thinking blocks (signature: the part's
// thoughtSignature, else empty), text → text, function calls → tool_use;
// STOP → end_turn (tool_use when the answer calls functions), MAX_TOKENS →
// max_tokens, SAFETY/RECITATION/… and a blocked prompt → refusal, others →
// end_turn. Usage: input_tokens = prompt − cached, cache_read_input_tokens
// = cachedContentTokenCount, output_tokens = candidates + thoughts.

func init() {
	register(provider.AnthropicMessages, func() provider.Translator { return &fromAnthropic{} })
	register(provider.AnthropicCountTokens, func() provider.Translator { return &fromAnthropic{count: true} })
}

type fromAnthropic struct {
	count bool
	model string
	usage provider.Usage

	// stream state
	w        anthropic.StreamWriter
	ids      callIDs
	finish   string
	sawCalls bool
}

func (t *fromAnthropic) Request(req *provider.Request, upstreamModel string) (*provider.Upstream, error) {
	if err := provider.CheckFields(req.Body, anthropic.RequestFields, "gemini"); err != nil {
		return nil, err
	}
	var in anthropic.MessagesRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, badRequest("invalid messages request: %v", err)
	}
	out, err := messagesToGemini(&in)
	if err != nil {
		return nil, err
	}
	t.model = upstreamModel
	if t.count {
		out.Model = modelResource(upstreamModel)
		return upstream(upstreamModel, "countTokens", false, schema.CountTokensRequest{GenerateContentRequest: out})
	}
	method := "generateContent"
	if req.Stream {
		method = "streamGenerateContent"
	}
	return upstream(upstreamModel, method, req.Stream, out)
}

func messagesToGemini(in *anthropic.MessagesRequest) (*schema.GenerateContentRequest, error) {
	if in.ServiceTier != "" && in.ServiceTier != "auto" {
		return nil, unsupported(fmt.Sprintf("service_tier %q", in.ServiceTier))
	}
	out := &schema.GenerateContentRequest{Contents: []schema.Content{}}
	if in.System != nil {
		parts, err := textParts(*in.System, "system")
		if err != nil {
			return nil, err
		}
		out.SystemInstruction = &schema.Content{Parts: parts}
	}
	turn := &toolTurn{calls: map[string]callRef{}}
	for i, m := range in.Messages {
		where := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "user":
			parts, err := userParts(m.Content, turn, where)
			if err != nil {
				return nil, err
			}
			out.Contents = appendContent(out.Contents, "user", parts)
		case "assistant":
			parts, err := modelParts(m.Content, turn, where)
			if err != nil {
				return nil, err
			}
			out.Contents = appendContent(out.Contents, "model", parts)
		default:
			return nil, badRequest("%s: role must be user or assistant, not %q", where, m.Role)
		}
	}
	if err := messagesTools(in, out); err != nil {
		return nil, err
	}
	gc := &schema.GenerationConfig{MaxOutputTokens: in.MaxTokens, Temperature: in.Temperature, TopP: in.TopP, TopK: in.TopK, StopSequences: in.StopSequences}
	if th := in.Thinking; th != nil {
		var budget int64
		switch th.Type {
		case "enabled":
			budget = th.BudgetTokens
		case "adaptive":
			budget = -1
		case "disabled":
		default:
			return nil, badRequest("thinking.type %q is not one of enabled, disabled, adaptive", th.Type)
		}
		gc.ThinkingConfig = &schema.ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: budget != 0}
	}
	if !gc.IsZero() {
		out.GenerationConfig = gc
	}
	return out, nil
}

func textParts(c anthropic.Content, where string) ([]schema.Part, error) {
	if c.IsString {
		return []schema.Part{{Text: c.Text}}, nil
	}
	parts := make([]schema.Part, 0, len(c.Blocks))
	for j, b := range c.Blocks {
		if b.Type != anthropic.BlockText {
			return nil, badRequest("%s[%d]: only text blocks are allowed here, not %q", where, j, b.Type)
		}
		parts = append(parts, schema.Part{Text: b.Text})
	}
	return parts, nil
}

// userParts converts a user turn: tool results first (in call order), then
// their images, then the other blocks.
func userParts(c anthropic.Content, turn *toolTurn, where string) ([]schema.Part, error) {
	if c.IsString {
		return []schema.Part{{Text: c.Text}}, nil
	}
	var rest []schema.Part
	for j, b := range c.Blocks {
		at := fmt.Sprintf("%s.content[%d]", where, j)
		if b.Type != anthropic.BlockToolResult {
			p, err := mediaPart(b, at)
			if err != nil {
				return nil, err
			}
			rest = append(rest, p)
			continue
		}
		var texts []string
		if rc := b.ResultContent; rc != nil && rc.IsString {
			texts = append(texts, rc.Text)
		} else if rc != nil {
			for k, cb := range rc.Blocks {
				p, err := mediaPart(cb, fmt.Sprintf("%s.content[%d]", at, k))
				if err != nil {
					return nil, err
				}
				if cb.Type == anthropic.BlockText {
					texts = append(texts, cb.Text)
				} else {
					turn.extra = append(turn.extra, p)
				}
			}
		}
		if err := turn.add(b.ToolUseID, functionResponse(strings.Join(texts, "\n\n"), b.IsError), at); err != nil {
			return nil, err
		}
	}
	return append(turn.flush(), rest...), nil
}

// mediaPart converts a text, image or document block.
func mediaPart(b anthropic.ContentBlock, at string) (schema.Part, error) {
	switch b.Type {
	case anthropic.BlockText:
		return schema.Part{Text: b.Text}, nil
	case anthropic.BlockImage, anthropic.BlockDocument:
		s := b.Source
		switch {
		case s == nil:
			return schema.Part{}, badRequest("%s: %s without a source", at, b.Type)
		case s.Type == "base64":
			return schema.Part{InlineData: &schema.Blob{MimeType: s.MediaType, Data: s.Data}}, nil
		case s.Type == "url":
			return fileData(s.URL, at)
		case s.Type == "text":
			return schema.Part{Text: s.Data}, nil
		}
		return schema.Part{}, unsupported(fmt.Sprintf("%s blocks with a %q source", b.Type, s.Type))
	case anthropic.BlockThinking, anthropic.BlockRedactedThinking, anthropic.BlockToolUse:
		return schema.Part{}, badRequest("%s: %s blocks belong in assistant turns", at, b.Type)
	}
	return schema.Part{}, unsupported(fmt.Sprintf("content block type %q", b.Type))
}

func modelParts(c anthropic.Content, turn *toolTurn, where string) ([]schema.Part, error) {
	if c.IsString {
		return []schema.Part{{Text: c.Text}}, nil
	}
	var parts []schema.Part
	calls := 0
	for j, b := range c.Blocks {
		switch b.Type {
		case anthropic.BlockText:
			if b.Text != "" {
				parts = append(parts, schema.Part{Text: b.Text})
			}
		case anthropic.BlockThinking, anthropic.BlockRedactedThinking:
			// Anthropic-signed reasoning; see the file comment.
		case anthropic.BlockToolUse:
			args := b.Input
			if len(bytes.TrimSpace(args)) == 0 {
				args = json.RawMessage("{}")
			}
			turn.calls[b.ID] = callRef{name: b.Name, pos: calls}
			calls++
			parts = append(parts, schema.Part{ThoughtSignature: signatureOf(b.ID), FunctionCall: &schema.FunctionCall{Name: b.Name, Args: args}})
		default:
			return nil, unsupported(fmt.Sprintf("assistant content block type %q (%s.content[%d])", b.Type, where, j))
		}
	}
	return parts, nil
}

func messagesTools(in *anthropic.MessagesRequest, out *schema.GenerateContentRequest) error {
	var decls []schema.FunctionDeclaration
	for i, t := range in.Tools {
		if !t.IsClientTool() {
			return unsupported(fmt.Sprintf("Anthropic server tool %q", t.Type))
		}
		params, err := cleanParameters(t.InputSchema, fmt.Sprintf("tools[%d].input_schema", i))
		if err != nil {
			return err
		}
		decls = append(decls, schema.FunctionDeclaration{Name: t.Name, Description: t.Description, Parameters: params})
	}
	if decls != nil {
		out.Tools = []schema.Tool{{FunctionDeclarations: decls}}
	}
	tc := in.ToolChoice
	if tc == nil {
		return nil
	}
	if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse && decls != nil {
		return unsupported("disable_parallel_tool_use")
	}
	fc := &schema.FunctionCallingConfig{}
	switch tc.Type {
	case "auto":
		fc.Mode = schema.ModeAuto
	case "any":
		fc.Mode = schema.ModeAny
	case "none":
		fc.Mode = schema.ModeNone
	case "tool":
		fc.Mode, fc.AllowedFunctionNames = schema.ModeAny, []string{tc.Name}
	default:
		return badRequest("tool_choice.type %q is not one of auto, any, tool, none", tc.Type)
	}
	if decls != nil {
		out.ToolConfig = &schema.ToolConfig{FunctionCallingConfig: fc}
	}
	return nil
}

// anthropicStop maps a Gemini finish reason.
func anthropicStop(reason string, calls bool) string {
	switch {
	case reason == schema.FinishMaxTokens:
		return anthropic.StopMaxTokens
	case schema.IsBlocked(reason):
		return anthropic.StopRefusal
	case calls:
		return anthropic.StopToolUse
	}
	return anthropic.StopEndTurn
}

func anthropicUsage(u provider.Usage) anthropic.Usage {
	return anthropic.Usage{InputTokens: u.InputTokens - u.CachedInputTokens, CacheReadInputTokens: u.CachedInputTokens, OutputTokens: u.OutputTokens}
}

func (t *fromAnthropic) Response(body []byte) ([]byte, provider.Usage, error) {
	if t.count {
		var c schema.CountTokensResponse
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, provider.Usage{}, fmt.Errorf("decode countTokens response: %w", err)
		}
		b, _ := json.Marshal(anthropic.CountTokensResponse{InputTokens: c.TotalTokens})
		return b, provider.Usage{}, nil
	}
	r, err := decodeChunk(body)
	if err != nil {
		return nil, provider.Usage{}, err
	}
	t.usage = geminiUsage(r.UsageMetadata)
	content := []anthropic.ContentBlock{}
	stop := anthropic.StopEndTurn
	switch {
	case len(r.Candidates) > 0:
		ids := callIDs{responseID: responseID(r, body)}
		calls := false
		if c := r.Candidates[0].Content; c != nil {
			for _, p := range c.Parts {
				switch {
				case p.FunctionCall != nil:
					args := p.FunctionCall.Args
					if len(args) == 0 {
						args = json.RawMessage("{}")
					}
					content = append(content, anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: ids.next(p.FunctionCall, p.ThoughtSignature), Name: p.FunctionCall.Name, Input: args})
					calls = true
				case p.Thought:
					content = append(content, anthropic.ContentBlock{Type: anthropic.BlockThinking, Thinking: p.Text, Signature: p.ThoughtSignature})
				case p.Text != "":
					content = append(content, anthropic.ContentBlock{Type: anthropic.BlockText, Text: p.Text})
				}
			}
		}
		stop = anthropicStop(r.Candidates[0].FinishReason, calls)
	case r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "":
		stop = anthropic.StopRefusal
	default:
		return nil, provider.Usage{}, errors.New("gemini response without candidates")
	}
	model := r.ModelVersion
	if model == "" {
		model = t.model
	}
	out := anthropic.MessagesResponse{ID: "msg_" + responseID(r, body), Type: "message", Role: "assistant", Model: model,
		Content: content, StopReason: &stop, Usage: anthropicUsage(t.usage)}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, provider.Usage{}, fmt.Errorf("encode messages response: %w", err)
	}
	return b, t.usage, nil
}

func (t *fromAnthropic) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	r, err := decodeChunk(ev.Data)
	if err != nil {
		return provider.Chunk{}, err
	}
	if r.UsageMetadata != nil {
		t.usage = geminiUsage(r.UsageMetadata)
	}
	var out []byte
	content := false
	if !t.w.Started() {
		t.ids.responseID = responseID(r, ev.Data)
		model := r.ModelVersion
		if model == "" {
			model = t.model
		}
		out = t.w.Start(out, "msg_"+t.ids.responseID, model, anthropic.Usage{InputTokens: t.usage.InputTokens - t.usage.CachedInputTokens, CacheReadInputTokens: t.usage.CachedInputTokens})
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" && t.finish == "" {
			t.finish = r.PromptFeedback.BlockReason
		}
		return provider.Chunk{Data: out}, nil
	}
	cand := r.Candidates[0]
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				args := p.FunctionCall.Args
				if len(args) == 0 {
					args = json.RawMessage("{}")
				}
				out = t.w.ToolStart(out, t.ids.next(p.FunctionCall, p.ThoughtSignature), p.FunctionCall.Name)
				out = t.w.ToolArgs(out, string(args))
				out = t.w.CloseBlock(out)
				t.sawCalls = true
			case p.Thought:
				out = t.w.Thinking(out, p.Text)
				if p.ThoughtSignature != "" {
					out = t.w.Signature(out, p.ThoughtSignature)
				}
			case p.Text != "":
				out = t.w.Text(out, p.Text)
			default:
				continue
			}
			content = true
		}
	}
	if cand.FinishReason != "" && t.finish == "" {
		t.finish = cand.FinishReason
	}
	return provider.Chunk{Data: out, Content: content}, nil
}

func (t *fromAnthropic) StreamEnd() ([]byte, error) {
	if t.finish == "" {
		return nil, truncated()
	}
	stop := anthropicStop(t.finish, t.sawCalls)
	return t.w.Finish(nil, stop, nil, anthropicUsage(t.usage)), nil
}

func (t *fromAnthropic) StreamError(status int, message string) []byte {
	return anthropic.ErrorEvent(status, message)
}

func (t *fromAnthropic) Usage() provider.Usage { return t.usage }

// Error converts a Gemini error body to Anthropic's envelope, keeping the message.
func (t *fromAnthropic) Error(status int, body []byte) []byte {
	msg, _ := errorMessage(status, body)
	return anthropic.MarshalError(status, msg)
}
