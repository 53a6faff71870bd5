package mockupstream

import (
	"net/http"
	"strconv"
)

// dialect is the error and auth convention of an endpoint.
type dialect uint8

const (
	dialectOpenAI dialect = iota
	dialectAnthropic
	dialectGemini
)

// apiError is a provider-shaped error answer.
type apiError struct {
	status int
	msg    string
	// code overrides the OpenAI "code" (null when empty) or sets the Gemini
	// ErrorInfo reason.
	code string
}

func (e apiError) body(d dialect) []byte {
	b := make([]byte, 0, 160+len(e.msg))
	switch d {
	case dialectAnthropic:
		b = append(b, `{"type":"error","error":{"type":`...)
		b = appendJSONString(b, anthropicErrorType(e.status))
		b = append(b, `,"message":`...)
		b = appendJSONString(b, e.msg)
		b = append(b, `},"request_id":"req_mock"}`...)
	case dialectGemini:
		b = append(b, `{"error":{"code":`...)
		b = strconv.AppendInt(b, int64(e.status), 10)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, e.msg)
		b = append(b, `,"status":`...)
		b = appendJSONString(b, geminiStatus(e.status))
		if e.code != "" {
			b = append(b, `,"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":`...)
			b = appendJSONString(b, e.code)
			b = append(b, `,"domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]`...)
		}
		b = append(b, `}}`...)
	default:
		typ, code := openAIErrorType(e.status)
		if e.code != "" {
			code = e.code
		}
		b = append(b, `{"error":{"message":`...)
		b = appendJSONString(b, e.msg)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, typ)
		b = append(b, `,"param":null,"code":`...)
		if code == "" {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, code)
		}
		b = append(b, `}}`...)
	}
	return b
}

func openAIErrorType(status int) (typ, code string) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusNotFound:
		return "invalid_request_error", "model_not_found"
	case status == http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", ""
	}
	return "invalid_request_error", ""
}

func anthropicErrorType(status int) string {
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
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func geminiStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable, 529:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// streamErrorEvent is the provider's in-stream error event. seq is the
// Responses API sequence number the event takes.
func streamErrorEvent(ep endpoint, seq int) []byte {
	const msg = "mock upstream stream error"
	var b []byte
	switch ep.dialect() {
	case dialectAnthropic:
		b = append(b, "event: error\ndata: "...)
		b = append(b, apiError{status: 529, msg: "Overloaded"}.body(dialectAnthropic)...)
		return append(b, "\n\n"...)
	case dialectGemini:
		b = append(b, "data: "...)
		b = append(b, apiError{status: 500, msg: msg}.body(dialectGemini)...)
		return append(b, "\r\n\r\n"...)
	}
	if ep == epResponses {
		b = append(b, `event: error`+"\n"+`data: {"type":"error","code":"server_error","message":"`+msg+`","param":null,"sequence_number":`...)
		b = strconv.AppendInt(b, int64(seq), 10)
		return append(b, "}\n\n"...)
	}
	b = append(b, "data: "...)
	b = append(b, apiError{status: 500, msg: msg}.body(dialectOpenAI)...)
	return append(b, "\n\n"...)
}

// malformedEvent is a stream event whose data is not JSON.
func malformedEvent(ep endpoint) []byte {
	switch ep.dialect() {
	case dialectAnthropic:
		return []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_del\n\n")
	case dialectGemini:
		return []byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"mo\r\n\r\n")
	}
	return []byte("data: {\"id\":\"mock\",\"choices\":[{\"delta\":{\"content\":\"mo\n\n")
}

// malformedBody is a non-streaming body that is not JSON.
const malformedBody = `{"id":"mock","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"mock rep`
