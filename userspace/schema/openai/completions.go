package openai

import "encoding/json"

// CompletionRequest is the body of POST /v1/completions (the legacy text
// completions API, still served by vLLM, Ollama and others).
type CompletionRequest struct {
	Model string `json:"model"`
	// Prompt is a string, an array of strings, an array of tokens or an
	// array of token arrays.
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream,omitempty"`
	StreamOptions *StreamOptions  `json:"stream_options,omitempty"`
	Suffix        string          `json:"suffix,omitempty"`
	MaxTokens     *int64          `json:"max_tokens,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	N             *int64          `json:"n,omitempty"`
	// Stop is a string or an array of strings.
	Stop             json.RawMessage    `json:"stop,omitempty"`
	Echo             bool               `json:"echo,omitempty"`
	BestOf           *int64             `json:"best_of,omitempty"`
	Logprobs         *int64             `json:"logprobs,omitempty"`
	PresencePenalty  *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64           `json:"frequency_penalty,omitempty"`
	LogitBias        map[string]float64 `json:"logit_bias,omitempty"`
	Seed             *int64             `json:"seed,omitempty"`
	User             string             `json:"user,omitempty"`
}

// Completion is a completions response and, with Object
// "text_completion" too, each chunk of a completions stream.
type Completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"` // "text_completion"
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	SystemFingerprint string             `json:"system_fingerprint,omitempty"`
	// Error is set on an error event some providers send inside a stream.
	Error *Error `json:"error,omitempty"`
}

// CompletionChoice is one choice of a Completion; FinishReason is null on
// stream chunks before the last.
type CompletionChoice struct {
	Index        int             `json:"index"`
	Text         string          `json:"text"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}
