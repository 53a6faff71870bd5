package provider

import (
	"encoding/json"
	"fmt"
	"slices"
)

// CheckFields rejects a request the target cannot express because of its
// top-level keys: every key of the JSON object body must be in known or
// extra, else the first unknown one (in sorted order, so the answer does not
// vary) is an *UnsupportedError naming it for providerType. A body that is
// not a JSON object is a *BadRequestError. Translators call it before
// decoding, so a field their wire types lack is never dropped silently.
func CheckFields(body []byte, known map[string]bool, providerType string, extra ...string) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return &BadRequestError{Message: fmt.Sprintf("invalid request body: %v", err)}
	}
	if keys == nil {
		return &BadRequestError{Message: "invalid request body: a JSON object is required"}
	}
	var unknown []string
	for k := range keys {
		if !known[k] && !slices.Contains(extra, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return &UnsupportedError{Feature: fmt.Sprintf("request field %q", slices.Min(unknown)), Provider: providerType}
}
