package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/anthropic"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/sse"
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

// errorBody renders e in the dialect of api, with the wire types of
// userspace/schema so weir's own errors look like the translators'.
func errorBody(dialect string, e *APIError) []byte {
	if dialect == "anthropic" {
		return anthropic.MarshalError(e.Status, e.Message)
	}
	body := openai.ErrorResponse{Error: openai.Error{Message: e.Message, Type: openai.ErrorType(e.Status), Code: openai.ErrorCode(e.Code)}}
	if e.Param != "" {
		body.Error.Param = &e.Param
	}
	out, _ := json.Marshal(body) // strings always encode
	return out
}

// errorEvent renders e as the dialect's terminal stream event, for a stream
// that failed before any translator existed.
func errorEvent(dialect string, e *APIError) []byte {
	if dialect == "anthropic" {
		return anthropic.ErrorEvent(e.Status, e.Message)
	}
	return sse.AppendEvent(nil, sse.Event{Data: errorBody(dialect, e)})
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
