package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// ErrorResponse is the OpenAI error envelope {"error":{...}}, also the data
// of an error event inside a chat or completions stream.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error is the inner error object. Param and Code are null when empty.
type Error struct {
	Message string    `json:"message"`
	Type    string    `json:"type"`
	Param   *string   `json:"param"`
	Code    ErrorCode `json:"code"`
}

// ErrorCode is the "code" of an error: a string such as
// "rate_limit_exceeded". Some OpenAI-compatible servers send a number (the
// HTTP status); it is kept as its decimal text.
type ErrorCode string

// UnmarshalJSON accepts a string, a number or null.
func (c *ErrorCode) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*c = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = ErrorCode(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*c = ErrorCode(n)
	return nil
}

// MarshalJSON writes null for the empty code, a string otherwise.
func (c ErrorCode) MarshalJSON() ([]byte, error) {
	if c == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(c))
}

// Error types.
const (
	ErrInvalidRequest = "invalid_request_error"
	ErrAuthentication = "authentication_error"
	ErrPermission     = "permission_error"
	ErrRateLimit      = "rate_limit_error"
	ErrServer         = "server_error"
	ErrAPI            = "api_error"
)

// ErrorType is the OpenAI error type weir uses for an HTTP status. OpenAI
// itself answers 404 with invalid_request_error (code model_not_found).
func ErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return ErrAuthentication
	case status == http.StatusForbidden:
		return ErrPermission
	case status == http.StatusTooManyRequests:
		return ErrRateLimit
	case status >= 500:
		return ErrAPI
	}
	return ErrInvalidRequest
}

// MarshalError returns the JSON envelope of an error. code may be empty.
// HTML characters are not escaped: the message often quotes an upstream's
// HTML error page, and \u003c in it helps no one.
func MarshalError(message, typ, code string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(ErrorResponse{Error: Error{Message: message, Type: typ, Code: ErrorCode(code)}}) // strings always encode
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
