package offline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	schema "github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

// echoLimit is how many characters of the user's message the reply quotes.
const echoLimit = 80

// messageOverhead is the framing tokens counted per chat message.
const messageOverhead = 3

// tokens is the counting heuristic: about 4 bytes of text per token.
func tokens(s string) int64 { return int64((len(s) + 3) / 4) }

// replyText is the whole answer to the last user message.
func replyText(user string) string {
	const intro = "Hello! I am weir's offline model, answering without an API key or network."
	user = strings.Join(strings.Fields(user), " ")
	if user == "" {
		return intro + " Send me a message and I will echo it."
	}
	if utf8.RuneCountInString(user) > echoLimit {
		user = string([]rune(user)[:echoLimit]) + "…"
	}
	return intro + ` You said: "` + user + `"`
}

// reply is the answer cut to max tokens (0: no limit), split into the
// pieces a stream sends: each word with the space before it.
type reply struct {
	text   string
	pieces []string
	cut    bool
}

func newReply(user string, max *int64) reply {
	r := reply{text: replyText(user)}
	if max != nil && *max >= 0 && tokens(r.text) > *max {
		n := int(*max) * 4
		if sp := strings.LastIndexByte(r.text[:n+1], ' '); sp > 0 {
			n = sp // end at a word boundary when there is one
		}
		for n > 0 && !utf8.RuneStart(r.text[n]) {
			n--
		}
		r.text, r.cut = r.text[:n], true
	}
	for i, w := range strings.Fields(r.text) {
		if i > 0 {
			w = " " + w
		}
		r.pieces = append(r.pieces, w)
	}
	return r
}

func (r reply) finish(stop string) string {
	if r.cut {
		return schema.FinishLength
	}
	return stop
}

func (r reply) outputTokens() int64 { return tokens(r.text) }

// badRequest is a 400 naming the field.
func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, param: param, msg: fmt.Sprintf(format, args...)}
}

func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest(te.Field, "invalid type for %q: expected %s", te.Field, te.Type)
		}
		return badRequest("", "invalid request body: %v", err)
	}
	return nil
}

// event frames v as one SSE data event.
func event(name string, v any) []byte {
	b, _ := json.Marshal(v)
	return sse.AppendEvent(nil, sse.Event{Event: name, Data: b})
}

var doneEvent = []byte("data: [DONE]\n\n")

func (m *Model) chat(req *http.Request, body []byte, id string) (*http.Response, *apiError) {
	var r schema.ChatCompletionRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if len(r.Messages) == 0 {
		return nil, badRequest("messages", "messages must be a non-empty array")
	}
	var prompt int64
	user := ""
	for _, msg := range r.Messages {
		text := msg.Content.JoinText()
		prompt += messageOverhead + tokens(msg.Name) + tokens(text)
		for _, tc := range msg.ToolCalls {
			prompt += tokens(tc.Function.Name) + tokens(tc.Function.Arguments)
		}
		if msg.Role == schema.RoleUser {
			user = text
		}
	}
	max := r.MaxCompletionTokens
	if max == nil {
		max = r.MaxTokens
	}
	rep := newReply(user, max)
	usage := &schema.Usage{
		PromptTokens:            prompt,
		CompletionTokens:        rep.outputTokens(),
		TotalTokens:             prompt + rep.outputTokens(),
		PromptTokensDetails:     &schema.PromptTokensDetails{},
		CompletionTokensDetails: &schema.CompletionTokensDetails{},
	}
	created := now().Unix()
	finish := rep.finish(schema.FinishStop)
	if !r.Stream {
		return jsonResponse(req, schema.ChatCompletion{
			ID: "chatcmpl-" + id, Object: "chat.completion", Created: created, Model: r.Model,
			Choices: []schema.ChatChoice{{
				Message:      schema.ChatMessage{Role: schema.RoleAssistant, Content: schema.TextContent(rep.text)},
				FinishReason: finish,
			}},
			Usage: usage, SystemFingerprint: ModelID,
		}), nil
	}
	chunk := func(d schema.Delta, finish *string) []byte {
		return event("", schema.ChatCompletionChunk{
			ID: "chatcmpl-" + id, Object: "chat.completion.chunk", Created: created, Model: r.Model,
			Choices: []schema.ChunkChoice{{Delta: d, FinishReason: finish}}, SystemFingerprint: ModelID,
		})
	}
	events := [][]byte{chunk(schema.Delta{Role: schema.RoleAssistant}, nil)}
	for _, p := range rep.pieces {
		events = append(events, chunk(schema.Delta{Content: p}, nil))
	}
	events = append(events, chunk(schema.Delta{}, &finish))
	if r.StreamOptions != nil && r.StreamOptions.IncludeUsage {
		events = append(events, event("", schema.ChatCompletionChunk{
			ID: "chatcmpl-" + id, Object: "chat.completion.chunk", Created: created, Model: r.Model,
			Choices: []schema.ChunkChoice{}, Usage: usage, SystemFingerprint: ModelID,
		}))
	}
	return m.stream(req, append(events, doneEvent)), nil
}

// promptInputs returns the prompt strings and the prompt tokens of a
// completions or embeddings input: a string, strings, token ids or arrays of
// token ids.
func promptInputs(raw json.RawMessage, param string) ([]string, int64, *apiError) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, tokens(one), nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		var n int64
		for _, s := range many {
			n += tokens(s)
		}
		return many, n, nil
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return []string{string(raw)}, int64(len(ids)), nil
	}
	var batches [][]int64
	if json.Unmarshal(raw, &batches) == nil && len(batches) > 0 {
		out := make([]string, len(batches))
		var n int64
		for i, b := range batches {
			enc, _ := json.Marshal(b)
			out[i] = string(enc)
			n += int64(len(b))
		}
		return out, n, nil
	}
	return nil, 0, badRequest(param, "%s must be a string, an array of strings, an array of token ids or an array of token id arrays, non-empty", param)
}

func (m *Model) completions(req *http.Request, body []byte, id string) (*http.Response, *apiError) {
	var r schema.CompletionRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	inputs, prompt, aerr := promptInputs(r.Prompt, "prompt")
	if aerr != nil {
		return nil, aerr
	}
	rep := newReply(inputs[len(inputs)-1], r.MaxTokens)
	usage := &schema.Usage{PromptTokens: prompt, CompletionTokens: rep.outputTokens(), TotalTokens: prompt + rep.outputTokens()}
	created := now().Unix()
	finish := rep.finish(schema.FinishStop)
	completion := func(text string, finish *string, u *schema.Usage) schema.Completion {
		c := schema.Completion{ID: "cmpl-" + id, Object: "text_completion", Created: created, Model: r.Model, Usage: u, SystemFingerprint: ModelID}
		if text != "" || finish != nil {
			c.Choices = []schema.CompletionChoice{{Text: text, FinishReason: finish, Logprobs: json.RawMessage("null")}}
		} else {
			c.Choices = []schema.CompletionChoice{}
		}
		return c
	}
	if !r.Stream {
		return jsonResponse(req, completion(rep.text, &finish, usage)), nil
	}
	var events [][]byte
	for _, p := range rep.pieces {
		events = append(events, event("", completion(p, nil, nil)))
	}
	events = append(events, event("", completion("", &finish, nil)))
	if r.StreamOptions != nil && r.StreamOptions.IncludeUsage {
		events = append(events, event("", completion("", nil, usage)))
	}
	return m.stream(req, append(events, doneEvent)), nil
}

func (m *Model) responses(req *http.Request, body []byte, id string) (*http.Response, *apiError) {
	var r schema.ResponseRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	user, prompt, aerr := responsesInput(r.Input)
	if aerr != nil {
		return nil, aerr
	}
	prompt += tokens(r.Instructions)
	rep := newReply(user, r.MaxOutputTokens)
	usage := &schema.ResponseUsage{InputTokens: prompt, OutputTokens: rep.outputTokens(), TotalTokens: prompt + rep.outputTokens()}
	created := now().Unix()
	msgID := "msg_" + id
	part := schema.ResponseOutputContent{Type: "output_text", Text: rep.text, Annotations: []json.RawMessage{}}
	item := schema.ResponseOutputItem{Type: schema.ItemMessage, ID: msgID, Status: schema.ResponseCompleted, Role: schema.RoleAssistant, Content: []schema.ResponseOutputContent{part}}
	final := schema.Response{ID: "resp_" + id, Object: "response", CreatedAt: created, Status: schema.ResponseCompleted, Model: r.Model, Output: []schema.ResponseOutputItem{item}, Usage: usage}
	if rep.cut {
		final.Status = schema.ResponseIncomplete
		final.IncompleteDetails = &schema.IncompleteDetails{Reason: "max_output_tokens"}
		final.Output[0].Status = schema.ResponseIncomplete
	}
	if !r.Stream {
		return jsonResponse(req, final), nil
	}
	var seq int64
	ev := func(v any) []byte {
		// Every event type carries its own name in "type"; read it back
		// for the SSE event line.
		b, _ := json.Marshal(v)
		var t struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(b, &t)
		return sse.AppendEvent(nil, sse.Event{Event: t.Type, Data: b})
	}
	next := func() int64 { seq++; return seq - 1 }
	start := final
	start.Status, start.Output, start.Usage, start.IncompleteDetails = schema.ResponseInProgress, []schema.ResponseOutputItem{}, nil, nil
	emptyItem := schema.ResponseOutputItem{Type: schema.ItemMessage, ID: msgID, Status: schema.ResponseInProgress, Role: schema.RoleAssistant, Content: []schema.ResponseOutputContent{}}
	emptyPart := schema.ResponseOutputContent{Type: "output_text", Annotations: []json.RawMessage{}}
	events := [][]byte{
		ev(schema.ResponseLifecycleEvent{Type: schema.EventResponseCreated, SequenceNumber: next(), Response: start}),
		ev(schema.ResponseLifecycleEvent{Type: schema.EventResponseInProgress, SequenceNumber: next(), Response: start}),
		ev(schema.ResponseOutputItemEvent{Type: schema.EventOutputItemAdded, SequenceNumber: next(), Item: emptyItem}),
		ev(schema.ResponseContentPartEvent{Type: schema.EventContentPartAdded, SequenceNumber: next(), ItemID: msgID, Part: emptyPart}),
	}
	for _, p := range rep.pieces {
		events = append(events, ev(schema.ResponseTextEvent{Type: schema.EventOutputTextDelta, SequenceNumber: next(), ItemID: msgID, Delta: p}))
	}
	terminal := schema.EventResponseCompleted
	if rep.cut {
		terminal = schema.EventResponseIncomplete
	}
	events = append(events,
		ev(schema.ResponseTextEvent{Type: schema.EventOutputTextDone, SequenceNumber: next(), ItemID: msgID, Text: rep.text}),
		ev(schema.ResponseContentPartEvent{Type: schema.EventContentPartDone, SequenceNumber: next(), ItemID: msgID, Part: part}),
		ev(schema.ResponseOutputItemEvent{Type: schema.EventOutputItemDone, SequenceNumber: next(), Item: final.Output[0]}),
		ev(schema.ResponseLifecycleEvent{Type: terminal, SequenceNumber: next(), Response: final}),
	)
	return m.stream(req, events), nil
}

// responsesInput returns the last user text and the input tokens of a
// Responses API input: a string or an array of items.
func responsesInput(raw json.RawMessage) (string, int64, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, tokens(s), nil
	}
	var items []schema.ResponseInputItem
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return "", 0, badRequest("input", "input must be a string or a non-empty array of input items")
	}
	user := ""
	var n int64
	for _, it := range items {
		text := itemText(it)
		n += messageOverhead + tokens(text)
		if it.Role == schema.RoleUser && (it.Type == "" || it.Type == schema.ItemMessage) {
			user = text
		}
	}
	return user, n, nil
}

// itemText is the text of an input item: a message's string or input_text
// parts, a function call's arguments or a function output.
func itemText(it schema.ResponseInputItem) string {
	switch {
	case len(it.Content) > 0:
		var s string
		if json.Unmarshal(it.Content, &s) == nil {
			return s
		}
		// Parts differ from chat's (input_image has a string image_url):
		// read only what text parts have.
		var parts []struct{ Type, Text string }
		_ = json.Unmarshal(it.Content, &parts)
		var b strings.Builder
		for _, p := range parts {
			if p.Type == "input_text" || p.Type == "output_text" || p.Type == schema.PartText {
				b.WriteString(p.Text)
			}
		}
		return b.String()
	case len(it.Output) > 0:
		var s string
		if json.Unmarshal(it.Output, &s) == nil {
			return s
		}
		return string(it.Output)
	}
	return it.Name + it.Arguments
}
