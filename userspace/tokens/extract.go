package tokens

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/jsonscan"
)

// body holds the fields of every supported API that carry prompt text or
// bound the output.
type body struct {
	Messages       json.RawMessage `json:"messages"`
	System         json.RawMessage `json:"system"`
	Tools          json.RawMessage `json:"tools"`
	Functions      json.RawMessage `json:"functions"`
	ResponseFormat json.RawMessage `json:"response_format"`
	Prompt         json.RawMessage `json:"prompt"`
	Suffix         json.RawMessage `json:"suffix"`
	Input          json.RawMessage `json:"input"`
	Instructions   json.RawMessage `json:"instructions"`
	Text           json.RawMessage `json:"text"`

	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
	MaxOutputTokens     *int64 `json:"max_output_tokens"`
	N                   *int64 `json:"n"`
}

// mediaTypes are content parts counted as MediaTokens, never as text.
var mediaTypes = map[string]bool{
	"image_url": true, "image": true, "input_image": true, "input_audio": true, "audio": true,
	"document": true, "file": true, "input_file": true, "video_url": true,
}

// skipKeys never hold prompt text: identifiers, enums and opaque blobs.
var skipKeys = map[string]bool{
	"type": true, "role": true, "id": true, "tool_call_id": true, "tool_use_id": true, "call_id": true,
	"cache_control": true, "signature": true, "encrypted_content": true, "detail": true, "status": true,
	"index": true, "data": true, "media_type": true,
}

func estimate(api provider.API, model string, raw []byte, validate bool) (Count, error) {
	var b body
	if err := decodeBody(raw, &b, validate); err != nil {
		return Count{}, fmt.Errorf("tokens: %s body: %w", api, err)
	}
	c := newCounter(model)
	var fixed int64
	var err error
	add := func(n int64, e error) {
		fixed += n
		if err == nil {
			err = e
		}
	}
	var out *int64
	switch api {
	case provider.OpenAIChat:
		add(c.messages("messages", b.Messages))
		add(c.json(b.Tools))
		add(c.json(b.Functions))
		add(c.json(b.ResponseFormat))
		fixed += ReplyTokens
		out = first(b.MaxCompletionTokens, b.MaxTokens)
	case provider.OpenAICompletions:
		add(c.value("prompt", b.Prompt, true))
		add(c.value("suffix", b.Suffix, false))
		out = b.MaxTokens
	case provider.OpenAIEmbeddings:
		add(c.value("input", b.Input, true))
		out = new(int64)
	case provider.OpenAIResponses:
		add(c.responsesInput(b.Input))
		add(c.value("instructions", b.Instructions, false))
		add(c.json(b.Tools))
		add(c.json(b.Text))
		fixed += ReplyTokens
		out = b.MaxOutputTokens
	case provider.AnthropicMessages, provider.AnthropicCountTokens:
		add(c.value("system", b.System, false))
		add(c.messages("messages", b.Messages))
		add(c.json(b.Tools))
		fixed += ReplyTokens
		out = b.MaxTokens
		if api == provider.AnthropicCountTokens {
			out = new(int64)
		}
	default:
		return Count{}, fmt.Errorf("tokens: unknown API %q", api)
	}
	if err != nil {
		return Count{}, fmt.Errorf("tokens: %s body: %w", api, err)
	}
	output, err := outputTokens(out, b.N)
	if err != nil {
		return Count{}, fmt.Errorf("tokens: %s body: %w", api, err)
	}
	return Count{Prompt: c.total() + fixed, Output: output, Method: c.method()}, nil
}

func first(ps ...*int64) *int64 {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func outputTokens(max, n *int64) (int64, error) {
	out := int64(DefaultMaxOutput)
	if max != nil {
		if *max < 0 {
			return 0, fmt.Errorf("negative maximum output tokens %d", *max)
		}
		out = *max
	}
	if n != nil {
		if *n < 1 || *n > 128 {
			return 0, fmt.Errorf("n must be between 1 and 128, got %d", *n)
		}
		out *= *n
	}
	return out, nil
}

// json counts a schema-like field (tools, response_format) as its JSON
// text (json.Unmarshal of the body validated it).
func (c *counter) json(raw json.RawMessage) (int64, error) {
	if len(raw) > 0 && string(raw) != "null" {
		c.text(string(raw))
	}
	return 0, nil
}

// messages counts a chat message list: its content plus the framing.
func (c *counter) messages(field string, raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] != '[' {
		var msgs []any
		err := json.Unmarshal(raw, &msgs)
		if err == nil {
			err = fmt.Errorf("not a list")
		}
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	var fixed int64
	for i := 1; ; {
		vs, ve, ok := jsonscan.Element(raw, i)
		if !ok {
			return fixed, nil
		}
		i = ve
		m := raw[vs:ve]
		fixed += MessageTokens
		if m[0] == '{' && hasKey(m, "name") {
			fixed += NameTokens
		}
		fixed += c.walkRaw(m, false)
	}
}

// responsesInput counts a Responses API input: a string or a list of items
// (messages and tool calls), each framed like a chat message.
func (c *counter) responsesInput(raw json.RawMessage) (int64, error) {
	if len(raw) > 0 && raw[0] == '[' {
		return c.messages("input", raw)
	}
	n, err := c.value("input", raw, false)
	return n + MessageTokens, err
}

// value counts one JSON field. tokenArrays counts numbers as tokens (prompt
// and input may be token ids).
func (c *counter) value(_ string, raw json.RawMessage, tokenArrays bool) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	return c.walkRaw(raw, tokenArrays), nil
}

// walk counts the text in a decoded JSON value and returns the fixed tokens
// (media, token ids) it found.
func (c *counter) walk(v any, tokenArrays bool) int64 {
	switch v := v.(type) {
	case string:
		if strings.HasPrefix(v, "data:") {
			return MediaTokens
		}
		c.text(v)
	case float64:
		if tokenArrays {
			return 1
		}
	case []any:
		var n int64
		for _, e := range v {
			n += c.walk(e, tokenArrays)
		}
		return n
	case map[string]any:
		t, _ := v["type"].(string)
		if mediaTypes[t] {
			return MediaTokens
		}
		var n int64
		for k, e := range v {
			switch {
			case skipKeys[k]:
			case k == "input" && (t == "tool_use" || t == "server_tool_use"):
				// Tool arguments as the model wrote them: JSON text.
				if js, err := json.Marshal(e); err == nil {
					c.text(string(js))
				}
			default:
				n += c.walk(e, tokenArrays)
			}
		}
		return n
	}
	return 0
}
