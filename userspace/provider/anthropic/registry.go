// Package anthropic translates between weir's client APIs and the Anthropic
// Messages API. Each client API has its own file: anthropic.go is the native
// passthrough for Anthropic clients, openai.go translates OpenAI chat clients.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/weir-gateway/weir/userspace/provider"
)

// pairs maps a client API to the constructor of its translator; each pair
// file registers itself in init.
var pairs = map[provider.API]func() provider.Translator{}

func register(api provider.API, f func() provider.Translator) { pairs[api] = f }

// New creates the translator of one attempt from client to an Anthropic provider.
func New(client provider.API) (provider.Translator, error) {
	f, ok := pairs[client]
	if !ok {
		return nil, &provider.UnsupportedError{Feature: "the " + string(client) + " API", Provider: "anthropic"}
	}
	return f(), nil
}

// replaceModel returns a copy of a JSON object body with every top-level
// "model" value replaced by model and every other byte unchanged.
func replaceModel(body []byte, model string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("request body must be a JSON object")
	}
	type span struct{ start, end int }
	var spans []span
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("request body: field %q: %w", key, err)
		}
		if key == "model" {
			end := int(dec.InputOffset())
			spans = append(spans, span{end - len(raw), end})
		}
	}
	if _, err := dec.Token(); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("request body: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("request body: data after the JSON object")
	}
	if len(spans) == 0 {
		return nil, errors.New("request body: missing required field: model")
	}
	quoted, _ := json.Marshal(model)
	out := make([]byte, 0, len(body)+len(quoted))
	last := 0
	for _, s := range spans {
		out = append(out, body[last:s.start]...)
		out = append(out, quoted...)
		last = s.end
	}
	return append(out, body[last:]...), nil
}
