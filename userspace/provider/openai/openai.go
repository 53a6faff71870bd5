package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/jsonenc"
	"github.com/weir-gateway/weir/userspace/schema/jsonscan"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
)

// This file is the OpenAI client × OpenAI-compatible provider pair: a
// passthrough. The client's body goes upstream with only the model replaced
// and, on streams, usage requested; the answer comes back byte for byte,
// inspected (never re-encoded) for usage, errors and the first content.

func init() {
	for _, api := range []provider.API{provider.OpenAIChat, provider.OpenAICompletions, provider.OpenAIEmbeddings, provider.OpenAIResponses} {
		register(api, func() provider.Translator { return &passthrough{api: api} })
	}
}

// maxErrorBody bounds the upstream body quoted in a wrapped error.
const maxErrorBody = 512

var (
	contentTypeJSON = []string{"application/json"}
	// jsonHeader is the header of most upstream requests, shared by them.
	jsonHeader = http.Header{"Content-Type": contentTypeJSON[:1:1]}
	doneEvent  = []byte("data: [DONE]\n\n")
)

// passthrough translates one attempt of an OpenAI client to an
// OpenAI-compatible upstream speaking the same API.
type passthrough struct {
	api provider.API
	// includeUsage: the client asked for the usage chunk itself.
	includeUsage bool
	usage        provider.Usage
	// done and finished: [DONE] or a finish_reason was seen (chat,
	// completions); terminal: a closing event was seen (responses). A stream
	// that ends without them was cut.
	done, finished, terminal bool
	// seq is the last sequence_number of a Responses API stream.
	seq int64
}

var _ provider.Translator = (*passthrough)(nil)

// Request implements provider.Translator.
func (t *passthrough) Request(req *provider.Request, upstreamModel string) (*provider.Upstream, error) {
	t.includeUsage = req.IncludeUsage
	body, err := rewriteRequest(req.Body, req.Valid, upstreamModel, req.Stream && (t.api == provider.OpenAIChat || t.api == provider.OpenAICompletions))
	if err != nil {
		return nil, err
	}
	// The header is shared (an Upstream's is read only), and OpenAI-Beta is
	// read by its canonical key (Values would canonicalize it per call).
	h := jsonHeader
	if v := req.Header["Openai-Beta"]; len(v) > 0 {
		h = http.Header{"Content-Type": contentTypeJSON[:1:1], "Openai-Beta": slices.Clone(v)}
	}
	return &provider.Upstream{Method: http.MethodPost, Path: apiPath(t.api), Header: h, Body: body}, nil
}

func apiPath(api provider.API) string {
	switch api {
	case provider.OpenAICompletions:
		return "/completions"
	case provider.OpenAIEmbeddings:
		return "/embeddings"
	case provider.OpenAIResponses:
		return "/responses"
	}
	return "/chat/completions"
}

// edit replaces body[start:end] with pre, the JSON string str when quote is
// set, and post.
type edit struct {
	start, end int
	pre        string
	quote      bool
	str        string
	post       string
}

// rewriteRequest returns body with every top-level "model" set to model
// (added when missing; left alone when model is empty) and, when
// forceUsage, stream_options.include_usage set to true with the other
// stream_options fields kept. Every other byte is unchanged; without a
// change the client's slice itself is returned. valid skips the JSON
// check for a body already checked (provider.Request.Valid).
func rewriteRequest(body []byte, valid bool, model string, forceUsage bool) ([]byte, error) {
	if !valid && !jsonscan.Valid(body) {
		return nil, &provider.BadRequestError{Message: "request body is not valid JSON"}
	}
	obj, ok := newObject(body, 0)
	if !ok {
		return nil, &provider.BadRequestError{Message: "request body must be a JSON object"}
	}
	var buf [6]edit
	edits := buf[:0]
	if model != "" {
		edits = append(edits, edit{start: obj.open + 1, end: obj.open + 1, pre: `"model":`, quote: true, str: model})
	}
	sawModel, sawOptions := false, false
	for {
		key, vs, ve, ok := obj.next()
		if !ok {
			break
		}
		switch {
		case model != "" && keyIs(key, "model"):
			if !sawModel {
				edits = edits[1:] // present: replace instead of adding
				sawModel = true
			}
			if !isQuoted(body[vs:ve], model) {
				edits = append(edits, edit{start: vs, end: ve, quote: true, str: model})
			}
		case forceUsage && keyIs(key, "stream_options"):
			sawOptions = true
			var err error
			if edits, err = includeUsage(body, vs, ve, edits); err != nil {
				return nil, err
			}
		}
	}
	if model != "" && !sawModel && obj.n > 0 {
		edits[0].post = ","
	}
	if forceUsage && !sawOptions {
		pre := `,"stream_options":{"include_usage":true}`
		if obj.n == 0 && (model == "" || sawModel) {
			pre = pre[1:]
		}
		edits = append(edits, edit{start: obj.i, end: obj.i, pre: pre})
	}
	if len(edits) == 0 {
		return body, nil
	}
	// Edits are in body order except the model insertion at the front,
	// which is first already; stable order keeps insertions at one offset
	// in the order they were made.
	slices.SortStableFunc(edits, func(a, b edit) int { return a.start - b.start })
	n := len(body)
	for _, e := range edits {
		n += len(e.pre) + len(e.str) + 2 + len(e.post)
	}
	out := make([]byte, 0, n+8)
	last := 0
	for _, e := range edits {
		out = append(out, body[last:e.start]...)
		out = append(out, e.pre...)
		if e.quote {
			out = jsonenc.AppendString(out, e.str)
		}
		out = append(out, e.post...)
		last = e.end
	}
	return append(out, body[last:]...), nil
}

// isQuoted reports whether v is exactly jsonenc.AppendString of s, so replacing
// it would change nothing (the common alias that names the upstream model).
func isQuoted(v []byte, s string) bool {
	if len(v) != len(s)+2 || v[0] != '"' || string(v[1:len(v)-1]) != s {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// includeUsage adds the edits that make the stream_options value
// body[vs:ve] ask for usage.
func includeUsage(body []byte, vs, ve int, edits []edit) ([]edit, error) {
	v := body[vs:ve]
	if isNull(v) {
		return append(edits, edit{start: vs, end: ve, pre: `{"include_usage":true}`}), nil
	}
	opts, ok := newObject(body[:ve], vs)
	if !ok {
		return nil, &provider.BadRequestError{Message: "stream_options must be an object"}
	}
	found := false
	for {
		key, ivs, ive, ok := opts.next()
		if !ok {
			break
		}
		if keyIs(key, "include_usage") {
			found = true
			if string(body[ivs:ive]) != "true" {
				edits = append(edits, edit{start: ivs, end: ive, pre: "true"})
			}
		}
	}
	if !found {
		pre := `"include_usage":true,`
		if opts.n == 0 {
			pre = pre[:len(pre)-1]
		}
		edits = append(edits, edit{start: opts.open + 1, end: opts.open + 1, pre: pre})
	}
	return edits, nil
}

// Response implements provider.Translator: the body is returned unchanged.
func (t *passthrough) Response(body []byte) ([]byte, provider.Usage, error) {
	// One pass validates the body and picks the members (the last of
	// duplicates, as decoders see them).
	var usage, errv, status []byte
	valid, object := jsonscan.ValidObject(body, func(key []byte, vs, ve int) {
		switch {
		case keyIs(key, "usage"):
			usage = body[vs:ve]
		case keyIs(key, "error"):
			errv = body[vs:ve]
		case keyIs(key, "status"):
			status = body[vs:ve]
		}
	})
	if !valid {
		return nil, provider.Usage{}, fmt.Errorf("openai response: body is not valid JSON: %q", truncate(body, 64))
	}
	if !object {
		return nil, provider.Usage{}, fmt.Errorf("openai response: body is not a JSON object: %q", truncate(body, 64))
	}
	if !isNull(errv) && (t.api != provider.OpenAIResponses || stringValue(status) == openai.ResponseFailed) {
		return nil, provider.Usage{}, upstreamError(errv)
	}
	if err := t.recordUsage(usage); err != nil {
		return nil, provider.Usage{}, err
	}
	return body, t.usage, nil
}

// recordUsage sets the usage from a usage object (chat, completions and
// embeddings shape, or the Responses API shape).
func (t *passthrough) recordUsage(v []byte) error {
	if isNull(v) {
		return nil
	}
	if t.api == provider.OpenAIResponses {
		var u openai.ResponseUsage
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("openai usage: %w", err)
		}
		t.usage = provider.Usage{
			InputTokens:       u.InputTokens,
			OutputTokens:      u.OutputTokens,
			CachedInputTokens: u.InputTokensDetails.CachedTokens,
			ReasoningTokens:   u.OutputTokensDetails.ReasoningTokens,
		}
		return nil
	}
	var s scannedUsage
	if !scanUsage(v, &s) {
		return t.decodeUsage(v)
	}
	u := &s.Usage // without its details pointers: see scannedUsage
	t.usage = provider.Usage{
		InputTokens:       u.PromptTokens,
		OutputTokens:      u.CompletionTokens,
		CachedInputTokens: u.PromptCacheHitTokens,
	}
	if s.prompt && s.promptDetails.CachedTokens > 0 { // as openai.Usage.CachedTokens
		t.usage.CachedInputTokens = s.promptDetails.CachedTokens
	}
	if s.reasoning {
		t.usage.ReasoningTokens = s.reasoningDetails.ReasoningTokens
	}
	return nil
}

// decodeUsage is recordUsage for a usage object scanUsage leaves to the
// decoder.
func (t *passthrough) decodeUsage(v []byte) error {
	var u openai.Usage
	if err := json.Unmarshal(v, &u); err != nil {
		return fmt.Errorf("openai usage: %w", err)
	}
	t.usage = provider.Usage{
		InputTokens:       u.PromptTokens,
		OutputTokens:      u.CompletionTokens,
		CachedInputTokens: u.CachedTokens(),
		ReasoningTokens:   u.ReasoningTokens(),
	}
	return nil
}

// scannedUsage is what scanUsage reads: an openai.Usage whose details
// objects are kept beside it, with flags for their presence, instead of
// behind its pointers, so that a scan (of every answer and of every stream
// chunk with usage) allocates nothing. usage returns the openai.Usage.
type scannedUsage struct {
	openai.Usage
	prompt, reasoning bool
	promptDetails     openai.PromptTokensDetails
	reasoningDetails  openai.CompletionTokensDetails
}

func (s *scannedUsage) usage() openai.Usage {
	u := s.Usage
	if s.prompt {
		d := s.promptDetails
		u.PromptTokensDetails = &d
	}
	if s.reasoning {
		d := s.reasoningDetails
		u.CompletionTokensDetails = &d
	}
	return u
}

// scanUsage reads a chat or completions usage object the way json.Unmarshal
// would, without reflection: every chunk of a stream with usage carries one.
// It returns false, leaving the decoding to json.Unmarshal, for anything
// beyond integers and null in the known fields, a key spelled with escapes
// or in another case, or a repeated details object.
func scanUsage(v []byte, s *scannedUsage) bool {
	obj, ok := newObject(v, 0)
	if !ok {
		return false
	}
	u := &s.Usage
	prompt, reasoning := &s.promptDetails, &s.reasoningDetails
	for {
		key, vs, ve, ok := obj.next()
		if !ok {
			return true
		}
		val := v[vs:ve]
		switch string(key) {
		case "prompt_tokens":
			ok = scanInt(val, &u.PromptTokens)
		case "completion_tokens":
			ok = scanInt(val, &u.CompletionTokens)
		case "total_tokens":
			ok = scanInt(val, &u.TotalTokens)
		case "prompt_cache_hit_tokens":
			ok = scanInt(val, &u.PromptCacheHitTokens)
		case "prompt_tokens_details":
			if s.prompt { // a second details object
				return false
			}
			s.prompt = !isNull(val)
			if s.prompt {
				ok = scanInts(val, []string{"cached_tokens", "audio_tokens"}, &prompt.CachedTokens, &prompt.AudioTokens)
			}
		case "completion_tokens_details":
			if s.reasoning {
				return false
			}
			s.reasoning = !isNull(val)
			if s.reasoning {
				ok = scanInts(val, []string{"reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"},
					&reasoning.ReasoningTokens, &reasoning.AudioTokens, &reasoning.AcceptedPredictionTokens, &reasoning.RejectedPredictionTokens)
			}
		default:
			ok = !foldsTo(key, "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cache_hit_tokens", "prompt_tokens_details", "completion_tokens_details")
		}
		if !ok {
			return false
		}
	}
}

// scanInts reads the integer members names of the object v into dst.
func scanInts(v []byte, names []string, dst ...*int64) bool {
	obj, ok := newObject(v, 0)
	if !ok {
		return false
	}
	for {
		key, vs, ve, ok := obj.next()
		if !ok {
			return true
		}
		i := slices.Index(names, string(key))
		switch {
		case i >= 0:
			ok = scanInt(v[vs:ve], dst[i])
		default:
			ok = !foldsTo(key, names...)
		}
		if !ok {
			return false
		}
	}
}

// scanInt reads an integer (null leaves *dst alone, as json.Unmarshal does).
func scanInt(v []byte, dst *int64) bool {
	if string(v) == "null" {
		return true
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return false
	}
	*dst = n
	return true
}

// foldsTo reports whether key might be decoded into one of names: it has
// escapes, or equals one of them ignoring case (encoding/json matches field
// names case-insensitively).
func foldsTo(key []byte, names ...string) bool {
	if bytes.IndexByte(key, '\\') >= 0 {
		return true
	}
	for _, n := range names {
		if strings.EqualFold(string(key), n) {
			return true
		}
	}
	return false
}

// StreamEvent implements provider.Translator.
func (t *passthrough) StreamEvent(ev sse.Event) (provider.Chunk, error) {
	if t.api == provider.OpenAIResponses {
		return t.responsesEvent(ev)
	}
	data := bytes.TrimSpace(ev.Data)
	if string(data) == "[DONE]" {
		t.done = true
		return provider.Chunk{}, nil // StreamEnd sends it, after anything weir adds
	}
	if len(data) == 0 {
		return provider.Chunk{}, nil
	}
	obj, err := streamObject(data)
	if err != nil {
		return provider.Chunk{}, err
	}
	var v [3][]byte
	obj.pick([]string{"choices", "usage", "error"}, v[:])
	choices, usage, errv := v[0], v[1], v[2]
	if !isNull(errv) {
		return provider.Chunk{}, upstreamError(errv)
	}
	if err := t.recordUsage(usage); err != nil {
		return provider.Chunk{}, err
	}
	content, hasChoice := t.scanChoices(choices)
	if !hasChoice && !isNull(usage) && !t.includeUsage {
		return provider.Chunk{}, nil // weir asked for this usage chunk, not the client
	}
	return provider.Chunk{Data: sse.AppendEvent(make([]byte, 0, len(ev.Data)+16), ev), Content: content}, nil
}

// scanChoices reports whether a chunk's choices carry output and whether it
// has any choice at all, and notes finish reasons.
func (t *passthrough) scanChoices(choices []byte) (content, hasChoice bool) {
	arr, ok := newArray(choices)
	if !ok {
		return false, false
	}
	for {
		vs, ve, ok := arr.next()
		if !ok {
			return content, hasChoice
		}
		hasChoice = true
		choice := choices[vs:ve]
		obj, ok := newObject(choice, 0)
		if !ok {
			continue
		}
		for {
			key, cvs, cve, ok := obj.next()
			if !ok {
				break
			}
			v := choice[cvs:cve]
			switch {
			case keyIs(key, "finish_reason"):
				if !isNull(v) {
					t.finished = true
				}
			case keyIs(key, "text"): // completions
				content = content || nonEmptyString(v)
			case keyIs(key, "delta"):
				content = content || deltaHasContent(v)
			}
		}
	}
}

// deltaHasContent reports whether a chat delta carries model output; a
// delta with only the role (the first chunk) or empty strings does not.
func deltaHasContent(delta []byte) bool {
	obj, ok := newObject(delta, 0)
	if !ok {
		return false
	}
	for {
		key, vs, ve, ok := obj.next()
		if !ok {
			return false
		}
		v := delta[vs:ve]
		switch {
		case keyIs(key, "content"), keyIs(key, "reasoning_content"), keyIs(key, "reasoning"), keyIs(key, "refusal"):
			if nonEmptyString(v) {
				return true
			}
		case keyIs(key, "tool_calls"):
			if nonEmptyArray(v) {
				return true
			}
		case keyIs(key, "function_call"), keyIs(key, "audio"):
			if !isNull(v) {
				return true
			}
		}
	}
}

// streamObject checks that a stream event's data is a JSON object.
func streamObject(data []byte) (object, error) {
	if !jsonscan.Valid(data) {
		return object{}, fmt.Errorf("openai stream: event data is not valid JSON: %q", truncate(data, 64))
	}
	obj, ok := newObject(data, 0)
	if !ok {
		return object{}, fmt.Errorf("openai stream: event data is not a JSON object: %q", truncate(data, 64))
	}
	return obj, nil
}

// responsesEvent handles one Responses API stream event.
func (t *passthrough) responsesEvent(ev sse.Event) (provider.Chunk, error) {
	data := ev.Data
	if len(bytes.TrimSpace(data)) == 0 {
		return provider.Chunk{}, nil
	}
	obj, err := streamObject(data)
	if err != nil {
		return provider.Chunk{}, err
	}
	var v [5][]byte
	obj.pick([]string{"type", "sequence_number", "response", "code", "message"}, v[:])
	typ, seq, resp, code, message := v[0], v[1], v[2], v[3], v[4]
	if n, err := strconv.ParseInt(string(seq), 10, 64); err == nil && n > t.seq {
		t.seq = n
	}
	name := stringValue(typ)
	if name == "" {
		name = ev.Event
	}
	content := true
	switch name {
	case openai.EventError:
		c := stringValue(code)
		if c == "" {
			c = string(code) // a numeric code
		}
		return provider.Chunk{}, &provider.UpstreamError{Status: errorStatus("", c), Type: orDefault(c, "error"), Message: orDefault(stringValue(message), "upstream stream error")}
	case openai.EventResponseCreated, openai.EventResponseInProgress, openai.EventResponseQueued:
		content = false
	case openai.EventResponseFailed:
		if err := t.recordUsage(field(resp, "usage")); err != nil {
			return provider.Chunk{}, err
		}
		return provider.Chunk{}, upstreamError(field(resp, "error"))
	case openai.EventResponseCompleted, openai.EventResponseIncomplete:
		t.terminal = true
		if err := t.recordUsage(field(resp, "usage")); err != nil {
			return provider.Chunk{}, err
		}
	}
	return provider.Chunk{Data: sse.AppendEvent(make([]byte, 0, len(ev.Data)+len(ev.Event)+24), ev), Content: content}, nil
}

// StreamEnd implements provider.Translator.
func (t *passthrough) StreamEnd() ([]byte, error) {
	if t.api == provider.OpenAIResponses {
		if !t.terminal {
			return nil, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "stream_truncated", Message: "upstream stream ended before response.completed"}
		}
		return nil, nil
	}
	if !t.done && !t.finished {
		return nil, &provider.UpstreamError{Status: http.StatusBadGateway, Type: "stream_truncated", Message: "upstream stream ended without a finish_reason or [DONE]"}
	}
	return doneEvent[:len(doneEvent):len(doneEvent)], nil
}

// StreamError implements provider.Translator. No [DONE] follows the error
// event, so clients can tell the stream was cut.
func (t *passthrough) StreamError(status int, message string) []byte {
	if t.api == provider.OpenAIResponses {
		data, _ := json.Marshal(openai.ResponseErrorEvent{
			Type:           openai.EventError,
			SequenceNumber: t.seq + 1,
			Code:           openai.ErrorCode(openai.ErrorType(status)),
			Message:        message,
		})
		return sse.AppendEvent(nil, sse.Event{Event: openai.EventError, Data: data})
	}
	return sse.AppendEvent(nil, sse.Event{Data: openai.MarshalError(message, openai.ErrorType(status), "")})
}

// Usage implements provider.Translator.
func (t *passthrough) Usage() provider.Usage { return t.usage }

// Error implements provider.Translator.
func (t *passthrough) Error(status int, body []byte) []byte { return errorBody(status, body) }

// errorBody keeps an OpenAI error envelope as the upstream sent it and wraps
// anything else (HTML from a load balancer, another server's JSON) into one
// that names the upstream status and quotes the start of the body.
func errorBody(status int, body []byte) []byte {
	if isErrorEnvelope(body) {
		return body
	}
	var msg string
	if b := bytes.TrimSpace(body); len(b) == 0 {
		msg = fmt.Sprintf("upstream returned HTTP %d with an empty body", status)
	} else {
		msg = fmt.Sprintf("upstream returned HTTP %d: %s", status, truncate(b, maxErrorBody))
	}
	return openai.MarshalError(msg, openai.ErrorType(status), "")
}

// isErrorEnvelope reports whether body is {"error":{"message":"...",...}}.
func isErrorEnvelope(body []byte) bool {
	if !jsonscan.Valid(body) {
		return false
	}
	e := field(body, "error")
	return len(e) > 0 && e[0] == '{' && len(field(e, "message")) > 0 && field(e, "message")[0] == '"'
}

// upstreamError converts an error value found in a 2xx body or stream:
// an OpenAI error object, a Responses API {code, message}, or a string.
func upstreamError(v []byte) error {
	if len(v) > 0 && v[0] == '"' {
		return &provider.UpstreamError{Type: "error", Message: stringValue(v)}
	}
	var e struct {
		openai.Error
		Status int `json:"status"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return fmt.Errorf("openai error event: %w", err)
	}
	typ := e.Type
	if typ == "" {
		typ = string(e.Code)
	}
	st := e.Status
	if st < 400 || st > 599 {
		st = errorStatus(e.Type, string(e.Code))
	}
	return &provider.UpstreamError{Status: st, Type: orDefault(typ, "error"), Message: orDefault(e.Message, "upstream error")}
}

// errorStatus is the HTTP status an error type or code stands for, 0 when
// unknown (the attempt loop then treats it as a bad gateway).
func errorStatus(typ, code string) int {
	if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
		return n
	}
	for _, s := range []string{code, typ} {
		switch s {
		case "rate_limit_error", "rate_limit_exceeded", "insufficient_quota", "tokens_exceeded":
			return http.StatusTooManyRequests
		case "authentication_error", "invalid_api_key":
			return http.StatusUnauthorized
		case "permission_error":
			return http.StatusForbidden
		case "not_found_error", "model_not_found":
			return http.StatusNotFound
		case "invalid_request_error", "context_length_exceeded":
			return http.StatusBadRequest
		case "server_error", "api_error", "internal_error":
			return http.StatusInternalServerError
		case "overloaded_error", "service_unavailable", "engine_overloaded":
			return http.StatusServiceUnavailable
		case "timeout", "timeout_error":
			return http.StatusGatewayTimeout
		}
		if strings.HasPrefix(s, "invalid_") {
			return http.StatusBadRequest
		}
	}
	return 0
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// truncate cuts b to at most n bytes at a UTF-8 boundary.
func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}
