package anthropic

import (
	"encoding/json"
	"net/http"
)

// ErrorResponse is Anthropic's error body, also the data of an "error" stream event.
type ErrorResponse struct {
	Type  string      `json:"type"`
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner error object.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorType is the Anthropic error type of an HTTP status.
func ErrorType(status int) string {
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
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// StatusOf is the HTTP status weir treats an Anthropic error type as.
// overloaded_error is Anthropic's 529, which weir handles as 503 so the
// attempt loop retries it like any unavailable upstream.
func StatusOf(errType string) int {
	switch errType {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "overloaded_error":
		return http.StatusServiceUnavailable
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "api_error":
		return http.StatusInternalServerError
	}
	return http.StatusBadGateway
}

// MarshalError is the Anthropic error body for status with message.
func MarshalError(status int, message string) []byte {
	b, _ := json.Marshal(ErrorResponse{Type: "error", Error: ErrorDetail{Type: ErrorType(status), Message: message}})
	return b
}

// ErrorEvent is a framed "event: error" SSE event for status with message.
func ErrorEvent(status int, message string) []byte {
	return AppendEvent(nil, EventError, MarshalError(status, message))
}

// ParseError reads an Anthropic error body; ok is false when body is not one.
func ParseError(body []byte) (ErrorDetail, bool) {
	var e ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Type != "error" || e.Error.Message == "" {
		return ErrorDetail{}, false
	}
	return e.Error, true
}
