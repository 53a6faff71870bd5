// Package gemini holds the wire types of the Gemini API (generateContent,
// streamGenerateContent, countTokens of generativelanguage v1beta), its error
// body, and the conversion of JSON Schema to the OpenAPI subset Gemini
// accepts. It imports only the standard library.
package gemini

import (
	"encoding/json"
	"net/http"
)

// GenerateContentRequest is the body of models/{model}:generateContent and
// :streamGenerateContent.
type GenerateContentRequest struct {
	// Model is set only inside a countTokens generateContentRequest ("models/…").
	Model             string            `json:"model,omitempty"`
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
}

// Content is one turn: role "user" or "model" (empty in systemInstruction).
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one piece of a turn; exactly one of its data fields is set.
type Part struct {
	Text string `json:"text,omitempty"`
	// Thought marks a text part as a thought summary.
	Thought bool `json:"thought,omitempty"`
	// ThoughtSignature is Gemini's opaque reasoning state, attached to the
	// part that follows the reasoning (usually a function call) and required
	// back on function calls of the current turn.
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
}

// Blob is inline base64 data.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData references a file by URI.
type FileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a call the model makes. ID is filled only by some APIs.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is the result of a call; Response must be a JSON object.
type FunctionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// Tool is a set of function declarations.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
}

// FunctionDeclaration declares a function; Parameters is a Schema (see CleanSchema).
type FunctionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolConfig holds the function calling mode.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`
}

// Function calling modes.
const (
	ModeAuto = "AUTO"
	ModeAny  = "ANY"
	ModeNone = "NONE"
)

// FunctionCallingConfig restricts function calls.
type FunctionCallingConfig struct {
	Mode                 string   `json:"mode,omitempty"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// GenerationConfig holds the sampling and output options.
type GenerationConfig struct {
	StopSequences    []string        `json:"stopSequences,omitempty"`
	ResponseMimeType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
	CandidateCount   *int64          `json:"candidateCount,omitempty"`
	MaxOutputTokens  *int64          `json:"maxOutputTokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"topP,omitempty"`
	TopK             *int64          `json:"topK,omitempty"`
	PresencePenalty  *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequencyPenalty,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	ThinkingConfig   *ThinkingConfig `json:"thinkingConfig,omitempty"`
}

// IsZero reports whether no option is set, so the object can be left out.
func (g *GenerationConfig) IsZero() bool {
	return g.StopSequences == nil && g.ResponseMimeType == "" && g.ResponseSchema == nil && g.CandidateCount == nil &&
		g.MaxOutputTokens == nil && g.Temperature == nil && g.TopP == nil && g.TopK == nil && g.PresencePenalty == nil &&
		g.FrequencyPenalty == nil && g.Seed == nil && g.ThinkingConfig == nil
}

// ThinkingConfig controls thinking. A budget of 0 turns it off where the
// model allows, -1 lets the model decide.
type ThinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int64 `json:"thinkingBudget,omitempty"`
}

// GenerateContentResponse is a complete answer or one stream chunk. Error is
// set when a stream carries an error object instead.
type GenerateContentResponse struct {
	Candidates     []Candidate     `json:"candidates"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
	Error          *Status         `json:"error,omitempty"`
}

// Candidate is one generated answer.
type Candidate struct {
	Content       *Content `json:"content,omitempty"`
	FinishReason  string   `json:"finishReason,omitempty"`
	Index         int      `json:"index"`
	FinishMessage string   `json:"finishMessage,omitempty"`
}

// Finish reasons.
const (
	FinishStop      = "STOP"
	FinishMaxTokens = "MAX_TOKENS"
)

// IsBlocked reports whether a finish or block reason means the answer was
// withheld by a safety, recitation or policy filter.
func IsBlocked(reason string) bool {
	switch reason {
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "OTHER_BLOCKED":
		return true
	}
	return false
}

// PromptFeedback says why a prompt was blocked (then there are no candidates).
type PromptFeedback struct {
	BlockReason string `json:"blockReason,omitempty"`
}

// UsageMetadata is Gemini's token accounting. PromptTokenCount includes the
// cached tokens; CandidatesTokenCount excludes the thoughts.
type UsageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	TotalTokenCount         int64 `json:"totalTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount,omitempty"`
}

// CountTokensRequest is the body of models/{model}:countTokens.
type CountTokensRequest struct {
	GenerateContentRequest *GenerateContentRequest `json:"generateContentRequest"`
}

// CountTokensResponse is the answer of countTokens.
type CountTokensResponse struct {
	TotalTokens             int64 `json:"totalTokens"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount,omitempty"`
}

// ErrorResponse is Gemini's error body.
type ErrorResponse struct {
	Error Status `json:"error"`
}

// Status is a google.rpc.Status as the REST API renders it.
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// HTTPStatus is the HTTP status of an error: its code when it is one, else
// the status name's usual HTTP equivalent, else 502.
func (s Status) HTTPStatus() int {
	if s.Code >= 400 && s.Code <= 599 {
		return s.Code
	}
	switch s.Status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return http.StatusBadRequest
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case "NOT_FOUND":
		return http.StatusNotFound
	case "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		return http.StatusInternalServerError
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// ParseError reads a Gemini error body, which is an object or, from some
// endpoints, a one-element array of them.
func ParseError(body []byte) (Status, bool) {
	var e ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error, true
	}
	var arr []ErrorResponse
	if json.Unmarshal(body, &arr) == nil && len(arr) > 0 && arr[0].Error.Message != "" {
		return arr[0].Error, true
	}
	return Status{}, false
}
