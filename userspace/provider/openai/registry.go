// Package openai translates between weir's client APIs and OpenAI-compatible
// providers (OpenAI, Azure OpenAI, vLLM, Ollama, DeepSeek, Groq, Mistral,
// OpenRouter, ...). Each client API family has its own file that registers
// its translators in init: openai.go passes OpenAI clients through,
// anthropic.go translates Anthropic Messages clients.
package openai

import (
	"fmt"

	"github.com/weir-gateway/weir/userspace/provider"
)

// pairs maps a client API to the constructor of its translator.
var pairs = map[provider.API]func() provider.Translator{}

// register adds the translator of a client API; pair files call it from init.
func register(api provider.API, f func() provider.Translator) {
	if _, dup := pairs[api]; dup {
		panic(fmt.Sprintf("openai: translator for %s registered twice", api))
	}
	pairs[api] = f
}

// New creates the translator of one attempt from a client API to an
// OpenAI-compatible provider.
func New(client provider.API) (provider.Translator, error) {
	f, ok := pairs[client]
	if !ok {
		return nil, &provider.UnsupportedError{Feature: "the " + string(client) + " API", Provider: "openai"}
	}
	return f(), nil
}
