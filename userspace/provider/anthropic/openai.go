package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	schema "github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

// OpenAI chat client → Anthropic provider.
//
// Request rules (each one has a golden case under testdata/openai_anthropic):
//   - Leading system and developer messages become "system" (a string for
//     one string message, text blocks otherwise). A system message after the
//     first user or assistant message cannot be expressed and is rejected.
//   - temperature, top_p, top_k (a vLLM-style extension) and stop are
//     passed as temperature, top_p, top_k and stop_sequences; user becomes
//     metadata.user_id.
//   - max_completion_tokens, else max_tokens, becomes max_tokens; without
//     either weir sends DefaultMaxTokens (plus the thinking budget when
//     reasoning is on), as Anthropic requires the field.
//   - reasoning_effort becomes thinking {type: enabled, budget_tokens} with
//     the budget of schema EffortBudget, capped below max_tokens ("none" turns
//     thinking off); a cap below 1024 is a 400.
//   - Images: base64 data URLs become base64 image sources, http(s) URLs url
//     sources; "detail" has no Anthropic equivalent and is not sent. PDF
//     file parts (file_data) become base64 document blocks.
//   - Tools: function tools become client tools (parameters → input_schema,
//     default {"type":"object"}); "strict" is not sent (Anthropic follows the
//     schema without a strict switch). tool_choice auto/none/required/
//     {function} become auto/none/any/tool; parallel_tool_calls=false becomes
//     disable_parallel_tool_use. Tool messages become tool_result blocks of
//     one user message, ids unchanged.
//   - Thinking history: an assistant message's "thinking_blocks" (the field
//     weir returns, as LiteLLM does: Anthropic thinking/redacted_thinking
//     blocks with their signatures) are sent back first and untouched.
//     reasoning_content without thinking_blocks carries no signature, which
//     Anthropic requires, so it is not sent.
//   - Not expressible, answered 400 naming the feature: n > 1, logprobs,
//     top_logprobs, presence/frequency penalties, logit_bias, seed, audio in
//     or out, predicted outputs, legacy functions, response_format
//     json_object/json_schema (Anthropic has no JSON mode), service tiers
//     other than auto, non-function tools, file ids, and any top-level field
//     weir does not know. store and metadata (OpenAI platform bookkeeping)
//     and a message's "name" are not sent.
//
// Responses: thinking → reasoning_content plus thinking_blocks (with the
// signature, so the client can send it back), redacted_thinking →
// thinking_blocks. In streams, thinking deltas arrive as reasoning_content
// and, when a block's signature arrives, one delta carries thinking_blocks
// with the complete block; a redacted block is one thinking_blocks delta; stop reasons end_turn/stop_sequence/pause_turn → stop,
// max_tokens/model_context_window_exceeded → length, tool_use → tool_calls,
// refusal → content_filter; prompt_tokens counts input, cache reads and
// cache writes, cached_tokens the cache reads.

func init() {
	register(provider.OpenAIChat, func() provider.Translator { return &fromOpenAI{} })
}

// DefaultMaxTokens is the max_tokens weir sends Anthropic when an OpenAI
// client gave no limit (Anthropic requires one): the largest value every
// Claude model accepts.
const DefaultMaxTokens = 4096

// now is the clock of "created" timestamps; tests pin it.
var now = time.Now

// chatRequest is an OpenAI chat request with the fields weir understands
// beyond the OpenAI schema.
type chatRequest struct {
	openai.ChatCompletionRequest
	Messages []chatMessage `json:"messages"`
	// TopK is the sampling parameter vLLM and others accept.
	TopK *int64 `json:"top_k,omitempty"`
}

// chatMessage is an OpenAI message with the thinking blocks weir returns to
// OpenAI clients so that they can send them back.
type chatMessage struct {
	openai.ChatMessage
	ThinkingBlocks []schema.ContentBlock `json:"thinking_blocks,omitempty"`
}

type fromOpenAI struct {
	stream       bool
	includeUsage bool
	created      int64
	usage        usageAcc

	// stream state
	id, model string
	tools     map[int]int // Anthropic block index → OpenAI tool call index
	nextTool  int
	thinking  strings.Builder
	stopped   bool
}

func (t *fromOpenAI) Request(req *provider.Request, upstreamModel string) (*provider.Upstream, error) {
	out, err := openAIToAnthropic(req.Body, upstreamModel)
	if err != nil {
		return nil, err
	}
	out.Stream = req.Stream
	t.stream, t.includeUsage = req.Stream, req.IncludeUsage
	t.created = now().Unix()
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode anthropic request: %w", err)
	}
	return &provider.Upstream{Method: http.MethodPost, Path: messagesPath, Header: anthropicHeader(req.Header, false), Body: body}, nil
}

func unsupported(feature string) error {
	return &provider.UnsupportedError{Feature: feature, Provider: "anthropic"}
}

func badRequest(format string, args ...any) error {
	return &provider.BadRequestError{Message: fmt.Sprintf(format, args...)}
}

func openAIToAnthropic(body []byte, model string) (*schema.MessagesRequest, error) {
	if err := provider.CheckFields(body, openai.ChatRequestFields, "anthropic", "top_k"); err != nil {
		return nil, err
	}
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badRequest("invalid chat completions request: %v", err)
	}
	if err := checkExpressible(&in.ChatCompletionRequest); err != nil {
		return nil, err
	}
	out := &schema.MessagesRequest{Model: model, Temperature: in.Temperature, TopP: in.TopP, TopK: in.TopK}
	if in.User != "" {
		out.Metadata = &schema.Metadata{UserID: in.User}
	}
	if in.ServiceTier == "auto" {
		out.ServiceTier = "auto"
	}
	stops, err := in.StopSequences()
	if err != nil {
		return nil, badRequest("%v", err)
	}
	out.StopSequences = stops
	if err := convertMessages(in.Messages, out); err != nil {
		return nil, err
	}
	if err := convertTools(&in.ChatCompletionRequest, out); err != nil {
		return nil, err
	}
	max := in.MaxCompletionTokens
	if max == nil {
		max = in.MaxTokens
	}
	if err := applyEffort(in.ReasoningEffort, max, out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkExpressible rejects the OpenAI features Anthropic has no equivalent for.
func checkExpressible(in *openai.ChatCompletionRequest) error {
	switch {
	case in.N != nil && *in.N > 1:
		return unsupported("n > 1")
	case in.Logprobs != nil && *in.Logprobs:
		return unsupported("logprobs")
	case in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return unsupported("top_logprobs")
	case in.PresencePenalty != nil && *in.PresencePenalty != 0:
		return unsupported("presence_penalty")
	case in.FrequencyPenalty != nil && *in.FrequencyPenalty != 0:
		return unsupported("frequency_penalty")
	case len(in.LogitBias) > 0:
		return unsupported("logit_bias")
	case in.Seed != nil:
		return unsupported("seed")
	case len(in.Audio) > 0 && string(in.Audio) != "null":
		return unsupported("audio output")
	case slices.ContainsFunc(in.Modalities, func(m string) bool { return m != "text" }):
		return unsupported("output modalities other than text")
	case len(in.Prediction) > 0 && string(in.Prediction) != "null":
		return unsupported("predicted outputs (prediction)")
	case len(in.Functions) > 0 || (len(in.FunctionCall) > 0 && string(in.FunctionCall) != "null"):
		return unsupported("legacy functions/function_call (use tools)")
	case in.ServiceTier != "" && in.ServiceTier != "auto":
		return unsupported(fmt.Sprintf("service_tier %q", in.ServiceTier))
	}
	if rf := in.ResponseFormat; rf != nil && rf.Type != "" && rf.Type != openai.ResponseFormatText {
		return unsupported("response_format " + rf.Type + " (Anthropic has no JSON mode)")
	}
	return nil
}

func convertMessages(msgs []chatMessage, out *schema.MessagesRequest) error {
	var system []schema.ContentBlock
	systemString, leading := true, true
	for i, m := range msgs {
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			if !leading {
				return unsupported(fmt.Sprintf("a %s message after the conversation started (messages[%d])", m.Role, i))
			}
			if !m.Content.IsString {
				systemString = false
			}
			blocks, err := contentBlocks(m.Content, fmt.Sprintf("messages[%d]", i))
			if err != nil {
				return err
			}
			system = append(system, blocks...)
			continue
		case openai.RoleUser:
			blocks, err := contentBlocks(m.Content, fmt.Sprintf("messages[%d]", i))
			if err != nil {
				return err
			}
			appendTurn(out, "user", blocks, m.Content.IsString)
		case openai.RoleAssistant:
			blocks, err := assistantBlocks(m, i)
			if err != nil {
				return err
			}
			if len(blocks) > 0 {
				appendTurn(out, "assistant", blocks, false)
			}
		case openai.RoleTool:
			if m.ToolCallID == "" {
				return badRequest("messages[%d]: tool message without tool_call_id", i)
			}
			c, err := contentBlocks(m.Content, fmt.Sprintf("messages[%d]", i))
			if err != nil {
				return err
			}
			res := &schema.Content{Blocks: c}
			if m.Content.IsString {
				res = &schema.Content{Text: m.Content.Text, IsString: true}
			}
			appendTurn(out, "user", []schema.ContentBlock{{Type: schema.BlockToolResult, ToolUseID: m.ToolCallID, ResultContent: res}}, false)
		case "function":
			return unsupported("legacy function messages (use tools)")
		default:
			return badRequest("messages[%d]: unknown role %q", i, m.Role)
		}
		leading = false
	}
	if len(system) > 0 {
		if systemString && len(system) == 1 {
			out.System = &schema.Content{Text: system[0].Text, IsString: true}
		} else {
			out.System = &schema.Content{Blocks: system}
		}
	}
	if out.Messages == nil {
		out.Messages = []schema.Message{}
	}
	return nil
}

// appendTurn adds blocks as a turn of role, merged into the previous turn
// when it has the same role (consecutive tool results and the user text
// after them form one user turn, as Anthropic requires).
func appendTurn(out *schema.MessagesRequest, role string, blocks []schema.ContentBlock, asString bool) {
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		prev := &out.Messages[n-1].Content
		if prev.IsString {
			*prev = schema.Content{Blocks: []schema.ContentBlock{{Type: schema.BlockText, Text: prev.Text}}}
		}
		prev.Blocks = append(prev.Blocks, blocks...)
		return
	}
	c := schema.Content{Blocks: blocks}
	if asString && len(blocks) == 1 {
		c = schema.Content{Text: blocks[0].Text, IsString: true}
	}
	out.Messages = append(out.Messages, schema.Message{Role: role, Content: c})
}

// contentBlocks converts an OpenAI content (string or parts) to blocks.
func contentBlocks(c openai.Content, where string) ([]schema.ContentBlock, error) {
	if c.IsString {
		return []schema.ContentBlock{{Type: schema.BlockText, Text: c.Text}}, nil
	}
	blocks := make([]schema.ContentBlock, 0, len(c.Parts))
	for j, p := range c.Parts {
		at := fmt.Sprintf("%s.content[%d]", where, j)
		switch p.Type {
		case openai.PartText:
			blocks = append(blocks, schema.ContentBlock{Type: schema.BlockText, Text: p.Text})
		case openai.PartRefusal:
			blocks = append(blocks, schema.ContentBlock{Type: schema.BlockText, Text: p.Refusal})
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, badRequest("%s: image_url part without image_url", at)
			}
			src, err := imageSource(p.ImageURL.URL, at)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, schema.ContentBlock{Type: schema.BlockImage, Source: src})
		case openai.PartFile:
			if p.File == nil || p.File.FileData == "" {
				return nil, unsupported("file parts without inline file_data (file ids)")
			}
			mt, data, ok := parseDataURL(p.File.FileData)
			if !ok {
				return nil, badRequest("%s: file_data must be a base64 data URL", at)
			}
			blocks = append(blocks, schema.ContentBlock{Type: schema.BlockDocument, Title: p.File.Filename,
				Source: &schema.Source{Type: "base64", MediaType: mt, Data: data}})
		case openai.PartInputAudio:
			return nil, unsupported("audio input")
		default:
			return nil, unsupported(fmt.Sprintf("content part type %q", p.Type))
		}
	}
	return blocks, nil
}

func imageSource(url, at string) (*schema.Source, error) {
	if strings.HasPrefix(url, "data:") {
		mt, data, ok := parseDataURL(url)
		if !ok {
			return nil, badRequest("%s: image data URL must be base64", at)
		}
		return &schema.Source{Type: "base64", MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://") {
		return &schema.Source{Type: "url", URL: url}, nil
	}
	return nil, badRequest("%s: image url must be an http(s) or base64 data URL", at)
}

// parseDataURL splits "data:MEDIA;base64,DATA".
func parseDataURL(u string) (mediaType, data string, ok bool) {
	meta, data, found := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	mediaType, b64 := strings.CutSuffix(meta, ";base64")
	return mediaType, data, found && b64 && strings.HasPrefix(u, "data:")
}

// assistantBlocks converts an assistant message: signed thinking first, then
// text, then tool calls (Anthropic's order).
func assistantBlocks(m chatMessage, i int) ([]schema.ContentBlock, error) {
	var blocks []schema.ContentBlock
	for j, b := range m.ThinkingBlocks {
		switch b.Type {
		case schema.BlockThinking, schema.BlockRedactedThinking:
			blocks = append(blocks, b)
		default:
			return nil, badRequest("messages[%d].thinking_blocks[%d]: type must be thinking or redacted_thinking", i, j)
		}
	}
	if !m.Content.IsNull() {
		c, err := contentBlocks(m.Content, fmt.Sprintf("messages[%d]", i))
		if err != nil {
			return nil, err
		}
		for _, b := range c {
			if b.Type == schema.BlockText && b.Text == "" {
				continue // Anthropic rejects empty text blocks; OpenAI clients send "" with tool calls
			}
			blocks = append(blocks, b)
		}
	}
	if m.Refusal != "" {
		blocks = append(blocks, schema.ContentBlock{Type: schema.BlockText, Text: m.Refusal})
	}
	if m.FunctionCall != nil {
		return nil, unsupported("legacy function_call in an assistant message (use tool_calls)")
	}
	for j, tc := range m.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			return nil, unsupported(fmt.Sprintf("tool call type %q", tc.Type))
		}
		input, err := tc.Function.ArgumentsObject()
		if err != nil {
			return nil, badRequest("messages[%d].tool_calls[%d].function.arguments: %v", i, j, err)
		}
		blocks = append(blocks, schema.ContentBlock{Type: schema.BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

func convertTools(in *openai.ChatCompletionRequest, out *schema.MessagesRequest) error {
	for i, t := range in.Tools {
		if t.Type != "function" {
			return unsupported(fmt.Sprintf("tool type %q", t.Type))
		}
		if t.Function.Name == "" {
			return badRequest("tools[%d].function.name is required", i)
		}
		params := t.Function.Parameters
		if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, schema.Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: params})
	}
	var tc *schema.ToolChoice
	raw := bytes.TrimSpace(in.ToolChoice)
	if len(raw) > 0 && string(raw) != "null" {
		var mode string
		if json.Unmarshal(raw, &mode) == nil {
			switch mode {
			case openai.ToolChoiceAuto:
				tc = &schema.ToolChoice{Type: "auto"}
			case openai.ToolChoiceNone:
				tc = &schema.ToolChoice{Type: "none"}
			case openai.ToolChoiceRequired:
				tc = &schema.ToolChoice{Type: "any"}
			default:
				return badRequest("tool_choice %q is not one of none, auto, required", mode)
			}
		} else {
			var fn openai.ToolChoiceFunction
			if err := json.Unmarshal(raw, &fn); err != nil || fn.Type != "function" || fn.Function.Name == "" {
				return unsupported("tool_choice other than none, auto, required or a function")
			}
			tc = &schema.ToolChoice{Type: "tool", Name: fn.Function.Name}
		}
	}
	if len(out.Tools) == 0 {
		// Anthropic rejects tool_choice without tools; with none the request means the same.
		if tc != nil && tc.Type != "none" && tc.Type != "auto" {
			return badRequest("tool_choice requires tools")
		}
		return nil
	}
	if p := in.ParallelToolCalls; p != nil && !*p {
		if tc == nil {
			tc = &schema.ToolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			disable := true
			tc.DisableParallelToolUse = &disable
		}
	}
	out.ToolChoice = tc
	return nil
}

func applyEffort(effort string, max *int64, out *schema.MessagesRequest) error {
	if effort == "" || effort == "none" {
		if max != nil {
			out.MaxTokens = max
		} else {
			d := int64(DefaultMaxTokens)
			out.MaxTokens = &d
		}
		return nil
	}
	budget, ok := schema.EffortBudget(effort)
	if !ok {
		return badRequest("reasoning_effort %q is not one of none, minimal, low, medium, high, xhigh", effort)
	}
	var limit int64
	if max != nil {
		limit = *max
		if budget >= limit {
			// OpenAI's limit counts reasoning too; keep the budget inside it.
			budget = limit - 1
		}
		if budget < schema.MinThinkingBudget {
			return badRequest("reasoning_effort needs max_completion_tokens above %d for Anthropic's minimum thinking budget", schema.MinThinkingBudget)
		}
	} else {
		limit = budget + DefaultMaxTokens
	}
	out.MaxTokens = &limit
	out.Thinking = &schema.Thinking{Type: "enabled", BudgetTokens: budget}
	return nil
}

// Response converts a Messages response to a chat completion.
func (t *fromOpenAI) Response(body []byte) ([]byte, provider.Usage, error) {
	var r schema.MessagesResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, provider.Usage{}, fmt.Errorf("decode anthropic response: %w", err)
	}
	if r.Type == "error" {
		var e schema.ErrorResponse
		_ = json.Unmarshal(body, &e)
		return nil, provider.Usage{}, upstreamError(e.Error)
	}
	t.usage.set(r.Usage)
	msg := chatMessage{ChatMessage: openai.ChatMessage{Role: openai.RoleAssistant}}
	var text, reasoning strings.Builder
	hasText := false
	for _, b := range r.Content {
		switch b.Type {
		case schema.BlockText:
			text.WriteString(b.Text)
			hasText = true
		case schema.BlockThinking:
			reasoning.WriteString(b.Thinking)
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, b)
		case schema.BlockRedactedThinking:
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, b)
		case schema.BlockToolUse:
			args := string(b.Input)
			if args == "" {
				args = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	if hasText {
		msg.Content = openai.TextContent(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	stop := ""
	if r.StopReason != nil {
		stop = *r.StopReason
	}
	u := t.usage.openAI()
	out := struct {
		ID      string           `json:"id"`
		Object  string           `json:"object"`
		Created int64            `json:"created"`
		Model   string           `json:"model"`
		Choices []responseChoice `json:"choices"`
		Usage   *openai.Usage    `json:"usage"`
	}{r.ID, "chat.completion", t.created, r.Model, []responseChoice{{Message: msg, FinishReason: finishReason(stop)}}, &u}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, provider.Usage{}, fmt.Errorf("encode chat completion: %w", err)
	}
	return b, t.usage.get(), nil
}

type responseChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

// finishReason maps an Anthropic stop reason to an OpenAI finish reason.
func finishReason(stop string) string {
	switch stop {
	case schema.StopMaxTokens, schema.StopContextLimit:
		return openai.FinishLength
	case schema.StopToolUse:
		return openai.FinishToolCalls
	case schema.StopRefusal:
		return openai.FinishContentFilter
	}
	return openai.FinishStop
}

// openAI renders the usage as OpenAI counts it: prompt tokens include cache
// reads and writes; Anthropic does not report thinking tokens separately.
func (a *usageAcc) openAI() openai.Usage {
	u := a.get()
	return openai.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.Total(),
		PromptTokensDetails: &openai.PromptTokensDetails{CachedTokens: u.CachedInputTokens}}
}

// chunkDelta is an OpenAI delta with weir's thinking_blocks.
type chunkDelta struct {
	openai.Delta
	ThinkingBlocks []schema.ContentBlock `json:"thinking_blocks,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *openai.Usage `json:"usage,omitempty"`
}

func (t *fromOpenAI) chunk(d chunkDelta, finish *string) []byte {
	b, _ := json.Marshal(chunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []chunkChoice{{Delta: d, FinishReason: finish}}})
	return sse.AppendEvent(nil, sse.Event{Data: b})
}

func (t *fromOpenAI) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	var e schema.StreamEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return provider.Chunk{}, fmt.Errorf("decode stream event %q: %w", ev.Event, err)
	}
	switch e.Type {
	case schema.EventError:
		if e.Error == nil {
			return provider.Chunk{}, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "api_error", Message: "error event without an error object"}
		}
		return provider.Chunk{}, upstreamError(*e.Error)
	case schema.EventMessageStart:
		if e.Message == nil {
			return provider.Chunk{}, errors.New("message_start without a message")
		}
		t.id, t.model = e.Message.ID, e.Message.Model
		t.usage.set(e.Message.Usage)
		return provider.Chunk{Data: t.chunk(chunkDelta{Delta: openai.Delta{Role: openai.RoleAssistant}}, nil)}, nil
	case schema.EventContentBlockStart:
		return t.blockStart(e)
	case schema.EventContentBlockDelta:
		return t.blockDelta(e)
	case schema.EventMessageDelta:
		if e.Usage != nil {
			t.usage.delta(*e.Usage)
		}
		if e.Delta == nil || e.Delta.StopReason == nil {
			return provider.Chunk{}, nil
		}
		fr := finishReason(*e.Delta.StopReason)
		return provider.Chunk{Data: t.chunk(chunkDelta{}, &fr)}, nil
	case schema.EventMessageStop:
		t.stopped = true
	}
	return provider.Chunk{}, nil
}

func (t *fromOpenAI) blockStart(e schema.StreamEvent) (provider.Chunk, error) {
	b := e.ContentBlock
	if b == nil {
		return provider.Chunk{}, errors.New("content_block_start without a content_block")
	}
	switch b.Type {
	case schema.BlockThinking:
		t.thinking.Reset()
	case schema.BlockRedactedThinking:
		return provider.Chunk{Data: t.chunk(chunkDelta{ThinkingBlocks: []schema.ContentBlock{*b}}, nil), Content: true}, nil
	case schema.BlockToolUse:
		if t.tools == nil {
			t.tools = map[int]int{}
		}
		idx := t.nextTool
		t.nextTool++
		t.tools[e.Index] = idx
		d := chunkDelta{Delta: openai.Delta{ToolCalls: []openai.ToolCallDelta{{Index: idx, ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name}}}}}
		return provider.Chunk{Data: t.chunk(d, nil), Content: true}, nil
	case schema.BlockText:
		if b.Text != "" {
			return provider.Chunk{Data: t.chunk(chunkDelta{Delta: openai.Delta{Content: b.Text}}, nil), Content: true}, nil
		}
	}
	return provider.Chunk{}, nil
}

func (t *fromOpenAI) blockDelta(e schema.StreamEvent) (provider.Chunk, error) {
	d := e.Delta
	if d == nil {
		return provider.Chunk{}, errors.New("content_block_delta without a delta")
	}
	var out chunkDelta
	switch d.Type {
	case schema.DeltaText:
		out.Content = d.Text
	case schema.DeltaThinking:
		t.thinking.WriteString(d.Thinking)
		out.ReasoningContent = d.Thinking
	case schema.DeltaSignature:
		out.ThinkingBlocks = []schema.ContentBlock{{Type: schema.BlockThinking, Thinking: t.thinking.String(), Signature: d.Signature}}
	case schema.DeltaInputJSON:
		idx, ok := t.tools[e.Index]
		if !ok {
			return provider.Chunk{}, fmt.Errorf("input_json_delta for block %d, which is not a tool_use block", e.Index)
		}
		if d.PartialJSON == "" {
			return provider.Chunk{}, nil
		}
		out.ToolCalls = []openai.ToolCallDelta{{Index: idx, Function: openai.FunctionCall{Arguments: d.PartialJSON}}}
	default:
		return provider.Chunk{}, nil
	}
	return provider.Chunk{Data: t.chunk(out, nil), Content: true}, nil
}

func (t *fromOpenAI) StreamEnd() ([]byte, error) {
	if !t.stopped {
		return nil, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream stream ended before message_stop"}
	}
	var out []byte
	if t.includeUsage {
		u := t.usage.openAI()
		b, _ := json.Marshal(chunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model, Choices: []chunkChoice{}, Usage: &u})
		out = sse.AppendEvent(out, sse.Event{Data: b})
	}
	return append(out, "data: [DONE]\n\n"...), nil
}

func (t *fromOpenAI) StreamError(status int, message string) []byte {
	return sse.AppendEvent(nil, sse.Event{Data: openai.MarshalError(message, openai.ErrorType(status), "")})
}

func (t *fromOpenAI) Usage() provider.Usage { return t.usage.get() }

// Error converts an Anthropic error body to OpenAI's envelope, keeping the
// message and passing Anthropic's error type as the code.
func (t *fromOpenAI) Error(status int, body []byte) []byte {
	if e, ok := schema.ParseError(body); ok {
		return openai.MarshalError(e.Message, openai.ErrorType(status), e.Type)
	}
	return openai.MarshalError(errorText(status, body), openai.ErrorType(status), "")
}
