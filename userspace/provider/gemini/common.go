// Package gemini translates weir's client APIs (OpenAI chat, Anthropic
// Messages) to the Gemini API (generateContent, streamGenerateContent with
// alt=sse, countTokens). openai.go and anthropic.go hold one pair each; this
// file holds what both share.
//
// Gemini has no tool call ids. weir gives every function call an id
// "call_" + 24 hex digits of a SHA-256 over the response id, the call's
// position in the answer, its name and arguments (Gemini's own id when it
// sends one), so the same upstream answer always yields the same ids. Gemini's
// thoughtSignature on a function call, which Gemini requires back on the
// calls of the current turn, rides in the id: id + "__ts__" + the signature
// in unpadded base64url (ids stay within [A-Za-z0-9_-], as Anthropic
// requires). When the client sends the history back, function calls get
// their signature from the id, and tool results are matched to calls by id
// to find the function name Gemini needs; the results of one turn are sent
// in the order of the calls they answer. Ids are never sent to Gemini.
// Signatures on text parts (optional for Gemini) are not carried.
package gemini

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	schema "github.com/weir-gateway/weir/userspace/schema/gemini"
)

// pairs maps a client API to the constructor of its translator.
var pairs = map[provider.API]func() provider.Translator{}

func register(api provider.API, f func() provider.Translator) { pairs[api] = f }

// New creates the translator of one attempt from client to a Gemini provider.
func New(client provider.API) (provider.Translator, error) {
	f, ok := pairs[client]
	if !ok {
		return nil, &provider.UnsupportedError{Feature: "the " + string(client) + " API", Provider: "gemini"}
	}
	return f(), nil
}

// now is the clock of OpenAI "created" timestamps; tests pin it.
var now = time.Now

func unsupported(feature string) error {
	return &provider.UnsupportedError{Feature: feature, Provider: "gemini"}
}

func badRequest(format string, args ...any) error {
	return &provider.BadRequestError{Message: fmt.Sprintf(format, args...)}
}

// upstream builds the request of a Gemini method for model: the path is
// relative to the provider base URL ("https://generativelanguage.googleapis.com").
// A model name with a slash ("tunedModels/x") is used as the resource name.
func upstream(model, method string, stream bool, body any) (*provider.Upstream, error) {
	name := model
	if !strings.Contains(name, "/") {
		name = "models/" + name
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode gemini request: %w", err)
	}
	up := &provider.Upstream{Method: http.MethodPost, Path: path.Join("/v1beta", escapeName(name)) + ":" + method,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
	if stream {
		up.Query = "alt=sse"
	}
	return up, nil
}

func escapeName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// modelResource is the "models/…" name countTokens wants inside its request.
func modelResource(model string) string {
	if strings.Contains(model, "/") {
		return model
	}
	return "models/" + model
}

// callIDs assigns the deterministic function call ids of one answer.
type callIDs struct {
	responseID string
	n          int
}

const sigSep = "__ts__"

// next is the id of the next function call of the answer.
func (c *callIDs) next(fc *schema.FunctionCall, signature string) string {
	id := fc.ID
	if id == "" {
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", c.responseID, c.n, fc.Name)
		h.Write(fc.Args)
		id = "call_" + hex.EncodeToString(h.Sum(nil)[:12])
	}
	c.n++
	if signature != "" {
		id += sigSep + base64.RawURLEncoding.EncodeToString([]byte(signature))
	}
	return id
}

// signatureOf extracts the thought signature carried in a call id.
func signatureOf(id string) string {
	_, enc, ok := strings.Cut(id, sigSep)
	if !ok {
		return ""
	}
	sig, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return ""
	}
	return string(sig)
}

// functionResponse is the response object of a tool result: a JSON object
// result as it is, anything else as {"content": text}; failed calls put
// their text under "error".
func functionResponse(text string, isError bool) json.RawMessage {
	if !isError {
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(text), &obj) == nil && obj != nil {
			return json.RawMessage(text)
		}
	}
	key := "content"
	if isError {
		key = "error"
	}
	b, _ := json.Marshal(map[string]string{key: text})
	return b
}

// toolTurn collects the function responses of one user turn and orders them
// like the calls of the model turn they answer.
type toolTurn struct {
	calls map[string]callRef // id → name and position in its model turn
	parts []schema.Part
	pos   []int
	extra []schema.Part // images and text sent after the responses
}

type callRef struct {
	name string
	pos  int
}

func (t *toolTurn) add(id string, resp json.RawMessage, where string) error {
	ref, ok := t.calls[id]
	if !ok {
		return badRequest("%s: tool result for unknown tool call id %q", where, id)
	}
	p := schema.Part{FunctionResponse: &schema.FunctionResponse{Name: ref.name, Response: resp}}
	i := len(t.pos)
	for i > 0 && t.pos[i-1] > ref.pos {
		i--
	}
	t.parts = append(t.parts[:i], append([]schema.Part{p}, t.parts[i:]...)...)
	t.pos = append(t.pos[:i], append([]int{ref.pos}, t.pos[i:]...)...)
	return nil
}

func (t *toolTurn) flush() []schema.Part {
	out := append(t.parts, t.extra...)
	t.parts, t.pos, t.extra = nil, nil, nil
	return out
}

// appendContent adds parts as a turn of role, merged into the previous turn
// when it has the same role (Gemini wants turns to alternate).
func appendContent(contents []schema.Content, role string, parts []schema.Part) []schema.Content {
	if len(parts) == 0 {
		return contents
	}
	if n := len(contents); n > 0 && contents[n-1].Role == role {
		contents[n-1].Parts = append(contents[n-1].Parts, parts...)
		return contents
	}
	return append(contents, schema.Content{Role: role, Parts: parts})
}

// mimeFromURL guesses a file's media type from its extension; Gemini's
// fileData needs one.
func mimeFromURL(u string) (string, bool) {
	p := u
	if parsed, err := url.Parse(u); err == nil {
		p = parsed.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		return "image/png", true
	case ".jpg", ".jpeg":
		return "image/jpeg", true
	case ".gif":
		return "image/gif", true
	case ".webp":
		return "image/webp", true
	case ".heic":
		return "image/heic", true
	case ".pdf":
		return "application/pdf", true
	case ".mp3":
		return "audio/mp3", true
	case ".wav":
		return "audio/wav", true
	}
	return "", false
}

// fileData is the part of a file referenced by URL.
func fileData(u, where string) (schema.Part, error) {
	mt, ok := mimeFromURL(u)
	if !ok {
		return schema.Part{}, unsupported(fmt.Sprintf("a file URL without a known extension (%s: Gemini needs the media type)", where))
	}
	return schema.Part{FileData: &schema.FileData{MimeType: mt, FileURI: u}}, nil
}

// cleanParameters converts a tool's JSON schema; parameters without
// properties are left out (Gemini rejects an OBJECT without properties).
func cleanParameters(raw json.RawMessage, where string) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	s, err := schema.CleanSchema(raw, false)
	if err != nil {
		return nil, badRequest("%s: %v", where, err)
	}
	if !schema.HasProperties(s) {
		return nil, nil
	}
	return s, nil
}

// geminiUsage is the usage of a Gemini answer in weir's terms: input counts
// the prompt (with the cached part) and tool-use prompt, output the
// candidates and the thoughts.
func geminiUsage(u *schema.UsageMetadata) provider.Usage {
	if u == nil {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:       u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:      u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedInputTokens: u.CachedContentTokenCount,
		ReasoningTokens:   u.ThoughtsTokenCount,
	}
}

// decodeChunk decodes a streamed or complete answer, turning an error
// object into an *provider.UpstreamError.
func decodeChunk(data []byte) (*schema.GenerateContentResponse, error) {
	var r schema.GenerateContentResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode gemini response: %w", err)
	}
	if r.Error != nil {
		return nil, &provider.UpstreamError{Status: r.Error.HTTPStatus(), Type: r.Error.Status, Message: r.Error.Message}
	}
	return &r, nil
}

// responseID is the answer's id, or one derived from its bytes.
func responseID(r *schema.GenerateContentResponse, body []byte) string {
	if r.ResponseID != "" {
		return r.ResponseID
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}

// errorMessage is the message of a Gemini error body, or its bounded text.
func errorMessage(status int, body []byte) (string, string) {
	if e, ok := schema.ParseError(body); ok {
		return e.Message, e.Status
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(body)), "")
	if s == "" {
		return "upstream returned HTTP " + strconv.Itoa(status) + " with an empty body", ""
	}
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "") + "…"
	}
	return s, ""
}

// truncated is the error of a stream that ended without a finish reason.
func truncated() error {
	return &provider.UpstreamError{Status: http.StatusBadGateway, Type: "stream_truncated", Message: "upstream stream ended without a finishReason"}
}
