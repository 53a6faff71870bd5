package openai

import "encoding/json"

// EmbeddingRequest is the body of POST /v1/embeddings.
type EmbeddingRequest struct {
	// Input is a string, an array of strings, an array of tokens or an array
	// of token arrays.
	Input json.RawMessage `json:"input"`
	Model string          `json:"model"`
	// EncodingFormat is "float" (the default) or "base64".
	EncodingFormat string `json:"encoding_format,omitempty"`
	Dimensions     *int   `json:"dimensions,omitempty"`
	User           string `json:"user,omitempty"`
}

// EmbeddingResponse is the answer of POST /v1/embeddings.
type EmbeddingResponse struct {
	Object string          `json:"object"` // "list"
	Data   []Embedding     `json:"data"`
	Model  string          `json:"model"`
	Usage  *EmbeddingUsage `json:"usage,omitempty"`
}

// Embedding is one vector of an EmbeddingResponse.
type Embedding struct {
	Object string `json:"object"` // "embedding"
	Index  int    `json:"index"`
	// Embedding is an array of floats, or a base64 string of little-endian
	// float32 values when the request asked for encoding_format "base64".
	Embedding json.RawMessage `json:"embedding"`
}

// EmbeddingUsage is the token accounting of embeddings: input only.
type EmbeddingUsage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}
