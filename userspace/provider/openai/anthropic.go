package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
	anthropic "github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

// This file is the Anthropic Messages client × OpenAI-compatible provider
// pair (Claude Code and the Anthropic SDKs in front of vLLM, OpenAI, …).
//
// Request rules (each has a golden case under testdata/anthropic_openai):
//   - system (string or text blocks) becomes one leading system message; text
//     blocks are joined with a blank line, which every OpenAI-compatible
//     server accepts (not all take content arrays in system messages).
//   - User text and image blocks become content parts (base64 image sources
//     → data URLs, url sources → image_url), PDF base64 documents file parts,
//     plain-text documents text parts. A single text block stays a string.
//   - tool_result blocks become tool messages, ids unchanged, placed before
//     the rest of their user turn. Their text is the tool message content;
//     OpenAI tool messages cannot hold images, so a tool result's images
//     follow in a user message right after the tool messages. is_error has
//     no OpenAI equivalent: the result text is sent as is.
//   - Assistant text blocks are concatenated into content; tool_use blocks
//     become tool_calls with the input as compact JSON arguments; thinking
//     blocks become reasoning_content (the field DeepSeek, vLLM and others
//     read back). Signatures are proofs only Anthropic can verify, and
//     redacted_thinking is ciphertext only Anthropic can read: an
//     OpenAI-compatible model can use neither, so both are not sent (a
//     thinking block's text still is).
//   - tools: client tools become function tools (input_schema → parameters);
//     server tools (web search, code execution, …) run at Anthropic only
//     and are rejected by name. tool_choice auto/any/tool/none becomes
//     auto/required/{function}/none; disable_parallel_tool_use becomes
//     parallel_tool_calls=false.
//   - max_tokens → max_tokens (the field every OpenAI-compatible server
//     knows; OpenAI's own reasoning models want max_completion_tokens and
//     answer 400 naming it), stop_sequences → stop, temperature/top_p as is,
//     top_k → top_k (a vLLM extension; strict servers reject it by name),
//     metadata.user_id → user, thinking enabled → reasoning_effort by budget
//     (schema BudgetEffort), adaptive → medium, disabled → not sent;
//     streams ask for stream_options.include_usage.
//   - A final assistant message is a prefill Anthropic continues; weir
//     asks for the same with vLLM's continue_final_message (and
//     add_generation_prompt false). Servers without the extension reject
//     the field by name rather than answering a different question.
//   - cache_control breakpoints are Anthropic prompt-caching hints and are
//     not sent: OpenAI-compatible servers cache prompt prefixes by themselves
//     (the cached count comes back as cache_read_input_tokens).
//   - Unknown top-level fields, server tools, url-sourced documents and
//     container/MCP features are answered 400 naming the feature.
//
// count_tokens: OpenAI has no counting endpoint, so weir asks the provider
// itself: the translated request is sent with max_tokens 1 and the answer's
// prompt_tokens is the count. The result is exact for the provider's
// tokenizer and chat template; the provider bills (and weir counts) that
// prompt plus one output token.
//
// Responses: reasoning_content (or reasoning) becomes a thinking block with
// an empty signature, content a text block, tool calls tool_use blocks (ids
// unchanged; arguments that are not a JSON object make the answer invalid,
// reported as an upstream error rather than altered); finish reasons stop →
// end_turn (stop_sequence when vLLM's stop_reason names one of the request's
// stop sequences), length → max_tokens, tool_calls → tool_use (also when a
// server says stop but returned tool calls), content_filter → refusal.
// Usage: input_tokens is prompt_tokens minus the cached ones, which become
// cache_read_input_tokens.

func init() {
	register(provider.AnthropicMessages, func() provider.Translator { return &fromAnthropic{} })
	register(provider.AnthropicCountTokens, func() provider.Translator { return &fromAnthropic{count: true} })
}

type fromAnthropic struct {
	count bool
	stops []string
	usage provider.Usage

	// stream state
	w        anthropic.StreamWriter
	id       string
	model    string
	toolOpen int    // OpenAI index of the open tool call, -1 when none
	openID   string // its id
	tools    int    // tool calls seen
	finish   string
	stopStr  *string
	hasUsage bool
}

var _ provider.Translator = (*fromAnthropic)(nil)

func anthUnsupported(feature string) error {
	return &provider.UnsupportedError{Feature: feature, Provider: "openai"}
}

func anthBadRequest(format string, args ...any) error {
	return &provider.BadRequestError{Message: fmt.Sprintf(format, args...)}
}

// chatRequestOut is the chat request weir sends, with the vLLM extensions
// top_k and, for a final assistant message, continue_final_message.
type chatRequestOut struct {
	openai.ChatCompletionRequest
	TopK                 *int64 `json:"top_k,omitempty"`
	ContinueFinalMessage bool   `json:"continue_final_message,omitempty"`
	// AddGenerationPrompt is sent (false) only with ContinueFinalMessage.
	AddGenerationPrompt *bool `json:"add_generation_prompt,omitempty"`
}

// Request implements provider.Translator.
func (t *fromAnthropic) Request(req *provider.Request, upstreamModel string) (*provider.Upstream, error) {
	if err := provider.CheckFields(req.Body, anthropic.RequestFields, "openai"); err != nil {
		return nil, err
	}
	var in anthropic.MessagesRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, anthBadRequest("invalid messages request: %v", err)
	}
	out := chatRequestOut{ChatCompletionRequest: openai.ChatCompletionRequest{
		Model: upstreamModel, Temperature: in.Temperature, TopP: in.TopP, MaxTokens: in.MaxTokens,
	}, TopK: in.TopK}
	if in.Metadata != nil {
		out.User = in.Metadata.UserID
	}
	if len(in.StopSequences) > 0 {
		t.stops = in.StopSequences
		out.Stop, _ = json.Marshal(in.StopSequences)
	}
	switch in.ServiceTier {
	case "", "auto":
		out.ServiceTier = in.ServiceTier
	case "standard_only":
		out.ServiceTier = "default"
	default:
		return nil, anthUnsupported(fmt.Sprintf("service_tier %q", in.ServiceTier))
	}
	msgs, err := anthropicMessages(&in)
	if err != nil {
		return nil, err
	}
	out.Messages = msgs
	if n := len(in.Messages); n > 0 && in.Messages[n-1].Role == "assistant" {
		// Anthropic continues a final assistant message (prefill); plain chat
		// completions would start a new turn after it instead.
		no := false
		out.ContinueFinalMessage, out.AddGenerationPrompt = true, &no
	}
	if err := anthropicTools(&in, &out.ChatCompletionRequest); err != nil {
		return nil, err
	}
	if th := in.Thinking; th != nil {
		switch th.Type {
		case "enabled":
			out.ReasoningEffort = anthropic.BudgetEffort(th.BudgetTokens)
		case "adaptive":
			out.ReasoningEffort = "medium"
		case "disabled":
		default:
			return nil, anthBadRequest("thinking.type %q is not one of enabled, disabled, adaptive", th.Type)
		}
	}
	if t.count {
		one := int64(1)
		out.MaxTokens = &one
	} else if req.Stream {
		out.Stream = true
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	t.toolOpen = -1
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode chat request: %w", err)
	}
	return &provider.Upstream{Method: http.MethodPost, Path: "/chat/completions", Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, nil
}

func anthropicMessages(in *anthropic.MessagesRequest) ([]openai.ChatMessage, error) {
	var out []openai.ChatMessage
	if in.System != nil {
		text, err := joinText(*in.System, "system")
		if err != nil {
			return nil, err
		}
		out = append(out, openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(text)})
	}
	for i, m := range in.Messages {
		where := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "user":
			msgs, err := userMessages(m.Content, where)
			if err != nil {
				return nil, err
			}
			out = append(out, msgs...)
		case "assistant":
			msg, err := assistantMessage(m.Content, where)
			if err != nil {
				return nil, err
			}
			out = append(out, msg)
		default:
			return nil, anthBadRequest("%s: role must be user or assistant, not %q", where, m.Role)
		}
	}
	if out == nil {
		out = []openai.ChatMessage{}
	}
	return out, nil
}

// joinText returns a content's text, its text blocks joined by a blank line.
func joinText(c anthropic.Content, where string) (string, error) {
	if c.IsString {
		return c.Text, nil
	}
	texts := make([]string, 0, len(c.Blocks))
	for j, b := range c.Blocks {
		if b.Type != anthropic.BlockText {
			return "", anthBadRequest("%s[%d]: only text blocks are allowed here, not %q", where, j, b.Type)
		}
		texts = append(texts, b.Text)
	}
	return strings.Join(texts, "\n\n"), nil
}

// userMessages converts a user turn: its tool results become tool messages
// (and a user message with their images), the other blocks one user message.
func userMessages(c anthropic.Content, where string) ([]openai.ChatMessage, error) {
	if c.IsString {
		return []openai.ChatMessage{{Role: openai.RoleUser, Content: openai.TextContent(c.Text)}}, nil
	}
	var tools []openai.ChatMessage
	var toolImages, parts []openai.ContentPart
	for j, b := range c.Blocks {
		at := fmt.Sprintf("%s.content[%d]", where, j)
		if b.Type == anthropic.BlockToolResult {
			msg, images, err := toolMessage(b, at)
			if err != nil {
				return nil, err
			}
			tools = append(tools, msg)
			toolImages = append(toolImages, images...)
			continue
		}
		p, err := userPart(b, at)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	out := tools
	if len(toolImages) > 0 {
		out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: openai.PartsContent(toolImages...)})
	}
	switch {
	case len(parts) == 1 && parts[0].Type == openai.PartText:
		out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: openai.TextContent(parts[0].Text)})
	case len(parts) > 0:
		out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: openai.PartsContent(parts...)})
	case len(tools) == 0:
		// An empty block list: keep the turn, as the client sent it.
		out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: openai.PartsContent()})
	}
	return out, nil
}

func userPart(b anthropic.ContentBlock, at string) (openai.ContentPart, error) {
	switch b.Type {
	case anthropic.BlockText:
		return openai.ContentPart{Type: openai.PartText, Text: b.Text}, nil
	case anthropic.BlockImage:
		url, err := sourceURL(b.Source, at)
		if err != nil {
			return openai.ContentPart{}, err
		}
		return openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: url}}, nil
	case anthropic.BlockDocument:
		s := b.Source
		switch {
		case s != nil && s.Type == "base64":
			return openai.ContentPart{Type: openai.PartFile, File: &openai.File{Filename: b.Title, FileData: "data:" + s.MediaType + ";base64," + s.Data}}, nil
		case s != nil && s.Type == "text":
			return openai.ContentPart{Type: openai.PartText, Text: s.Data}, nil
		case s != nil:
			return openai.ContentPart{}, anthUnsupported(fmt.Sprintf("document blocks with a %q source", s.Type))
		}
		return openai.ContentPart{}, anthBadRequest("%s: document without a source", at)
	case anthropic.BlockThinking, anthropic.BlockRedactedThinking, anthropic.BlockToolUse:
		return openai.ContentPart{}, anthBadRequest("%s: %s blocks belong in assistant turns", at, b.Type)
	}
	return openai.ContentPart{}, anthUnsupported(fmt.Sprintf("content block type %q", b.Type))
}

// sourceURL is the OpenAI image URL of an image source.
func sourceURL(s *anthropic.Source, at string) (string, error) {
	switch {
	case s == nil:
		return "", anthBadRequest("%s: image without a source", at)
	case s.Type == "base64":
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case s.Type == "url":
		return s.URL, nil
	}
	return "", anthUnsupported(fmt.Sprintf("image blocks with a %q source", s.Type))
}

func toolMessage(b anthropic.ContentBlock, at string) (openai.ChatMessage, []openai.ContentPart, error) {
	if b.ToolUseID == "" {
		return openai.ChatMessage{}, nil, anthBadRequest("%s: tool_result without tool_use_id", at)
	}
	msg := openai.ChatMessage{Role: openai.RoleTool, ToolCallID: b.ToolUseID, Content: openai.TextContent("")}
	if b.ResultContent == nil {
		return msg, nil, nil
	}
	if b.ResultContent.IsString {
		msg.Content = openai.TextContent(b.ResultContent.Text)
		return msg, nil, nil
	}
	var texts []string
	var images []openai.ContentPart
	for j, c := range b.ResultContent.Blocks {
		p, err := userPart(c, fmt.Sprintf("%s.content[%d]", at, j))
		if err != nil {
			return msg, nil, err
		}
		if p.Type == openai.PartText {
			texts = append(texts, p.Text)
		} else {
			images = append(images, p)
		}
	}
	msg.Content = openai.TextContent(strings.Join(texts, "\n\n"))
	return msg, images, nil
}

func assistantMessage(c anthropic.Content, where string) (openai.ChatMessage, error) {
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	if c.IsString {
		msg.Content = openai.TextContent(c.Text)
		return msg, nil
	}
	var text, reasoning strings.Builder
	hasText := false
	for j, b := range c.Blocks {
		switch b.Type {
		case anthropic.BlockText:
			text.WriteString(b.Text)
			hasText = true
		case anthropic.BlockThinking:
			reasoning.WriteString(b.Thinking)
		case anthropic.BlockRedactedThinking:
			// Ciphertext for Anthropic only; see the file comment.
		case anthropic.BlockToolUse:
			args, err := compactJSON(b.Input)
			if err != nil {
				return msg, anthBadRequest("%s.content[%d].input: %v", where, j, err)
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		default:
			return msg, anthUnsupported(fmt.Sprintf("assistant content block type %q", b.Type))
		}
	}
	if hasText {
		msg.Content = openai.TextContent(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	return msg, nil
}

func compactJSON(raw json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}", nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

func anthropicTools(in *anthropic.MessagesRequest, out *openai.ChatCompletionRequest) error {
	for i, t := range in.Tools {
		if !t.IsClientTool() {
			return anthUnsupported(fmt.Sprintf("Anthropic server tool %q", t.Type))
		}
		if t.Name == "" {
			return anthBadRequest("tools[%d].name is required", i)
		}
		params := t.InputSchema
		if len(bytes.TrimSpace(params)) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: openai.FunctionDefinition{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	tc := in.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		out.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		out.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		out.ToolChoice = json.RawMessage(`"none"`)
	case "tool":
		var fn openai.ToolChoiceFunction
		fn.Type = "function"
		fn.Function.Name = tc.Name
		out.ToolChoice, _ = json.Marshal(fn)
	default:
		return anthBadRequest("tool_choice.type %q is not one of auto, any, tool, none", tc.Type)
	}
	if len(out.Tools) == 0 {
		out.ToolChoice = nil
		return nil
	}
	if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse && tc.Type != "none" {
		f := false
		out.ParallelToolCalls = &f
	}
	return nil
}

// chatCompletionIn is a chat completion with the per-choice stop_reason vLLM
// adds (the matched stop string, or a token id).
type chatCompletionIn struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message      openai.ChatMessage `json:"message"`
		FinishReason string             `json:"finish_reason"`
		StopReason   json.RawMessage    `json:"stop_reason"`
	} `json:"choices"`
	Usage *openai.Usage   `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Response implements provider.Translator.
func (t *fromAnthropic) Response(body []byte) ([]byte, provider.Usage, error) {
	var r chatCompletionIn
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, provider.Usage{}, fmt.Errorf("decode chat completion: %w", err)
	}
	if !isNull(bytes.TrimSpace(r.Error)) {
		return nil, provider.Usage{}, upstreamError(r.Error)
	}
	if r.Usage != nil {
		t.setUsage(r.Usage)
	}
	if t.count {
		if r.Usage == nil {
			return nil, provider.Usage{}, errors.New("count_tokens: the upstream answer has no usage")
		}
		b, _ := json.Marshal(anthropic.CountTokensResponse{InputTokens: r.Usage.PromptTokens})
		return b, t.usage, nil
	}
	if len(r.Choices) == 0 {
		return nil, provider.Usage{}, errors.New("chat completion without choices")
	}
	ch := r.Choices[0]
	m := ch.Message
	var content []anthropic.ContentBlock
	if rc := orDefault(m.ReasoningContent, m.Reasoning); rc != "" {
		content = append(content, anthropic.ContentBlock{Type: anthropic.BlockThinking, Thinking: rc})
	}
	if text := m.Content.JoinText(); text != "" {
		content = append(content, anthropic.ContentBlock{Type: anthropic.BlockText, Text: text})
	}
	if m.Refusal != "" {
		content = append(content, anthropic.ContentBlock{Type: anthropic.BlockText, Text: m.Refusal})
	}
	for i, tc := range m.ToolCalls {
		input, err := tc.Function.ArgumentsObject()
		if err != nil {
			return nil, provider.Usage{}, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "invalid_tool_call",
				Message: fmt.Sprintf("upstream tool call %q has arguments that are not a JSON object", tc.Function.Name)}
		}
		content = append(content, anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: toolID(tc.ID, r.ID, i), Name: tc.Function.Name, Input: input})
	}
	if content == nil {
		content = []anthropic.ContentBlock{}
	}
	stop, seq := t.stopReason(ch.FinishReason, ch.StopReason, len(m.ToolCalls) > 0)
	if m.Refusal != "" {
		stop = anthropic.StopRefusal
	}
	out := anthropic.MessagesResponse{ID: r.ID, Type: "message", Role: "assistant", Model: r.Model, Content: content,
		StopReason: &stop, StopSequence: seq, Usage: anthropicUsage(t.usage)}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, provider.Usage{}, fmt.Errorf("encode messages response: %w", err)
	}
	return b, t.usage, nil
}

// toolID is the tool call's id, or a deterministic one for servers that omit it.
func toolID(id, respID string, i int) string {
	if id != "" {
		return id
	}
	return "toolu_" + respID + "_" + strconv.Itoa(i)
}

func (t *fromAnthropic) setUsage(u *openai.Usage) {
	t.usage = provider.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens,
		CachedInputTokens: u.CachedTokens(), ReasoningTokens: u.ReasoningTokens()}
	t.hasUsage = true
}

func anthropicUsage(u provider.Usage) anthropic.Usage {
	return anthropic.Usage{InputTokens: u.InputTokens - u.CachedInputTokens, CacheReadInputTokens: u.CachedInputTokens, OutputTokens: u.OutputTokens}
}

// stopReason maps a finish reason to Anthropic's stop reason and sequence.
func (t *fromAnthropic) stopReason(finish string, vllmStop json.RawMessage, toolCalls bool) (string, *string) {
	switch finish {
	case openai.FinishLength:
		return anthropic.StopMaxTokens, nil
	case openai.FinishToolCalls, openai.FinishFunctionCall:
		return anthropic.StopToolUse, nil
	case openai.FinishContentFilter:
		return anthropic.StopRefusal, nil
	}
	if toolCalls {
		return anthropic.StopToolUse, nil
	}
	var s string
	if len(vllmStop) > 0 && json.Unmarshal(vllmStop, &s) == nil && slices.Contains(t.stops, s) {
		return anthropic.StopStopSequence, &s
	}
	return anthropic.StopEndTurn, nil
}

// chunkIn is a stream chunk with vLLM's per-choice stop_reason.
type chunkIn struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int             `json:"index"`
		Delta        openai.Delta    `json:"delta"`
		FinishReason *string         `json:"finish_reason"`
		StopReason   json.RawMessage `json:"stop_reason"`
	} `json:"choices"`
	Usage *openai.Usage   `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// StreamEvent implements provider.Translator.
func (t *fromAnthropic) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	if bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
		return provider.Chunk{}, nil
	}
	var c chunkIn
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return provider.Chunk{}, fmt.Errorf("decode chat chunk: %w", err)
	}
	if !isNull(bytes.TrimSpace(c.Error)) {
		return provider.Chunk{}, upstreamError(c.Error)
	}
	var out []byte
	content := false
	if !t.w.Started() {
		t.id, t.model = c.ID, c.Model
		out = t.w.Start(out, c.ID, c.Model, anthropic.Usage{})
	}
	if c.Usage != nil {
		t.setUsage(c.Usage)
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // weir never asks for n > 1
		}
		d := ch.Delta
		if rc := orDefault(d.ReasoningContent, d.Reasoning); rc != "" {
			out = t.w.Thinking(out, rc)
			content = true
		}
		if d.Content != "" {
			out = t.w.Text(out, d.Content)
			content = true
		}
		if d.Refusal != "" {
			out = t.w.Text(out, d.Refusal)
			t.finish = openai.FinishContentFilter
			content = true
		}
		for _, tc := range d.ToolCalls {
			var err error
			if out, err = t.toolDelta(out, tc, c.ID); err != nil {
				return provider.Chunk{}, err
			}
			content = true
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			if t.finish == "" {
				t.finish = *ch.FinishReason
			}
			var s string
			if len(ch.StopReason) > 0 && json.Unmarshal(ch.StopReason, &s) == nil && slices.Contains(t.stops, s) {
				t.stopStr = &s
			}
			out = t.w.CloseBlock(out)
		}
	}
	return provider.Chunk{Data: out, Content: content}, nil
}

// toolDelta streams one tool call fragment: a fragment with a new index or
// id (or after other output) starts a tool_use block, the others append to
// the open one. A server that goes back to an earlier call cannot be
// expressed as sequential Anthropic blocks and fails the stream.
func (t *fromAnthropic) toolDelta(out []byte, tc openai.ToolCallDelta, respID string) ([]byte, error) {
	if tc.Index != t.toolOpen || (tc.ID != "" && tc.ID != t.openID) || t.w.Open() != anthropic.BlockToolUse {
		if tc.ID == "" && tc.Function.Name == "" {
			return nil, fmt.Errorf("tool call %d: arguments arrived without or after the start of their call", tc.Index)
		}
		t.openID = toolID(tc.ID, respID, t.tools)
		out = t.w.ToolStart(out, t.openID, tc.Function.Name)
		t.toolOpen = tc.Index
		t.tools++
	}
	return t.w.ToolArgs(out, tc.Function.Arguments), nil
}

// StreamEnd implements provider.Translator.
func (t *fromAnthropic) StreamEnd() ([]byte, error) {
	if t.finish == "" {
		return nil, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "stream_truncated", Message: "upstream stream ended without a finish_reason"}
	}
	stop, _ := t.stopReason(t.finish, nil, t.tools > 0)
	if stop == anthropic.StopEndTurn && t.stopStr != nil {
		stop = anthropic.StopStopSequence
	}
	var out []byte
	out = t.w.Start(out, t.id, t.model, anthropic.Usage{})
	var seq *string
	if stop == anthropic.StopStopSequence {
		seq = t.stopStr
	}
	return t.w.Finish(out, stop, seq, anthropicUsage(t.usage)), nil
}

// StreamError implements provider.Translator.
func (t *fromAnthropic) StreamError(status int, message string) []byte {
	return anthropic.ErrorEvent(status, message)
}

// Usage implements provider.Translator.
func (t *fromAnthropic) Usage() provider.Usage { return t.usage }

// Error implements provider.Translator: the OpenAI error's message in
// Anthropic's envelope, with the type Anthropic uses for the status.
func (t *fromAnthropic) Error(status int, body []byte) []byte {
	var e openai.ErrorResponse
	if isErrorEnvelope(body) && json.Unmarshal(body, &e) == nil {
		return anthropic.MarshalError(status, e.Error.Message)
	}
	// vLLM and FastAPI servers put the message at the top level.
	var flat struct {
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &flat) == nil {
		var detail string
		if flat.Message == "" && json.Unmarshal(flat.Detail, &detail) == nil {
			flat.Message = detail
		}
		if flat.Message != "" {
			return anthropic.MarshalError(status, flat.Message)
		}
	}
	msg := strings.TrimSpace(string(truncate(body, maxErrorBody)))
	if msg == "" {
		msg = fmt.Sprintf("upstream returned HTTP %d with an empty body", status)
	}
	return anthropic.MarshalError(status, msg)
}
