package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/weir-gateway/weir/userspace/provider"
)

// APIError is an error answered to the client in its own dialect.
type APIError struct {
	Status  int
	Message string
	// Param names the offending request field, when there is one.
	Param string
	// Code is the OpenAI error code (e.g. "model_not_found").
	Code string
	// RetryAfter, when positive, is sent as Retry-After in seconds.
	RetryAfterSeconds int
	// Header is added to the error response (e.g. x-ratelimit-*).
	Header http.Header
}

func (e *APIError) Error() string { return e.Message }

// openAIType is the OpenAI "type" of an error status.
func openAIType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// anthropicType is the Anthropic error "type" of a status.
func anthropicType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	default:
		if status >= 500 {
			return "api_error"
		}
		return "invalid_request_error"
	}
}

type openAIErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

type anthropicErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorBody renders e in the dialect of api.
func errorBody(dialect string, e *APIError) []byte {
	var v any
	if dialect == "anthropic" {
		var b anthropicErrorBody
		b.Type = "error"
		b.Error.Type = anthropicType(e.Status)
		b.Error.Message = e.Message
		v = b
	} else {
		var b openAIErrorBody
		b.Error.Message = e.Message
		b.Error.Type = openAIType(e.Status)
		if e.Param != "" {
			b.Error.Param = &e.Param
		}
		if e.Code != "" {
			b.Error.Code = &e.Code
		}
		v = b
	}
	out, _ := json.Marshal(v)
	return out
}

// writeError answers e in the client's dialect.
func writeError(w http.ResponseWriter, api provider.API, e *APIError) {
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	if e.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(errorBody(api.Dialect(), e))
}
