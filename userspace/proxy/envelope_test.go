package proxy

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
)

// decodedEnvelope is parseEnvelope as it was before the scan: everything
// through json.Unmarshal. It is the reference the scan must match.
func decodedEnvelope(api provider.API, body []byte) (*provider.Request, *APIError) {
	if len(body) == 0 {
		return nil, &APIError{Status: http.StatusBadRequest, Message: "request body is empty: a JSON object is required"}
	}
	var env envelope
	if aerr := decodeEnvelope(body, &env); aerr != nil {
		return nil, aerr
	}
	req := &provider.Request{API: api, Body: body, Valid: json.Valid(body)}
	if len(env.Model) == 0 || string(env.Model) == "null" {
		return nil, &APIError{Status: http.StatusBadRequest, Param: "model", Message: "missing required field: model"}
	}
	if err := json.Unmarshal(env.Model, &req.Model); err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Param: "model", Message: "invalid type for field \"model\": expected a string"}
	}
	if req.Model == "" {
		return nil, &APIError{Status: http.StatusBadRequest, Param: "model", Message: "field \"model\" must not be empty"}
	}
	if len(env.Stream) > 0 && string(env.Stream) != "null" {
		if err := json.Unmarshal(env.Stream, &req.Stream); err != nil {
			return nil, &APIError{Status: http.StatusBadRequest, Param: "stream", Message: "invalid type for field \"stream\": expected a boolean"}
		}
	}
	if api == provider.OpenAIEmbeddings || api == provider.AnthropicCountTokens {
		req.Stream = false
	}
	if env.StreamOptions != nil {
		req.IncludeUsage = env.StreamOptions.IncludeUsage
	}
	return req, nil
}

var envelopeSeeds = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"m","stream":false,"stream_options":null}`,
	`{"model":"m","stream":null,"stream_options":{"include_usage":null,"x":1}}`,
	`{"model":"m","stream_options":{"include_usage":true},"stream_options":{"other":1}}`,
	`{"model":"m","stream_options":{"include_usage":"yes"}}`,
	`{"model":"m","stream_options":[1]}`,
	`{"model":"m","stream":"true"}`,
	`{"model":"m","stream":1}`,
	`{"Model":"upper","STREAM":true,"Stream_Options":{"Include_Usage":true}}`,
	`{"m\u006fdel":"escaped key","stream":true}`,
	`{"model":"esc\u00e9aped\nvalue"}`,
	"{\"model\":\"bad utf8 \xff\"}",
	`{"model":"first","model":"second"}`,
	`{"model":3}`, `{"model":""}`, `{"model":null}`, `{}`, `[]`, `"x"`, `null`, `{"model":`, ``, `   `,
	` { "model" : "spaced" , "stream" : true } `,
}

// TestEnvelopeScanMatchesDecode checks parseEnvelope against the decoding
// reference: the same request or the same client error.
func TestEnvelopeScanMatchesDecode(t *testing.T) {
	for _, s := range envelopeSeeds {
		for _, api := range []provider.API{provider.OpenAIChat, provider.OpenAIEmbeddings} {
			t.Run(string(api)+"/"+s, func(t *testing.T) { checkEnvelope(t, api, []byte(s)) })
		}
	}
}

func checkEnvelope(t *testing.T, api provider.API, body []byte) {
	t.Helper()
	got, gerr := parseEnvelope(api, body)
	want, werr := decodedEnvelope(api, body)
	if !reflect.DeepEqual(gerr, werr) {
		t.Fatalf("%q: error %+v, reference %+v", body, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: request %+v, reference %+v", body, got, want)
	}
}

// FuzzEnvelopeScanMatchesDecode checks parseEnvelope against the decoding
// reference on arbitrary bodies.
func FuzzEnvelopeScanMatchesDecode(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkEnvelope(t, provider.OpenAIChat, []byte(s)) })
}
