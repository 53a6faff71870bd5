package provider

import (
	"errors"
	"testing"
)

func TestCheckFields(t *testing.T) {
	known := map[string]bool{"model": true, "messages": true}
	tests := []struct {
		name, body string
		extra      []string
		want       string // "" = accepted; otherwise the error text
		bad        bool   // a *BadRequestError rather than an *UnsupportedError
	}{
		{name: "known only", body: `{"model":"m","messages":[]}`},
		{name: "extra allowed", body: `{"model":"m","top_k":3}`, extra: []string{"top_k"}},
		{name: "first unknown in sorted order", body: `{"zeta":1,"model":"m","beta":2}`, want: `request field "beta" is not supported by provider type p`},
		{name: "empty key", body: `{"":1}`, want: `request field "" is not supported by provider type p`},
		{name: "extra is not known elsewhere", body: `{"top_k":3}`, want: `request field "top_k" is not supported by provider type p`},
		{name: "array", body: `[1]`, want: "invalid request body: json: cannot unmarshal array into Go value of type map[string]json.RawMessage", bad: true},
		{name: "null", body: `null`, want: "invalid request body: a JSON object is required", bad: true},
		{name: "malformed", body: `{"model":`, want: "invalid request body: unexpected end of JSON input", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFields([]byte(tc.body), known, "p", tc.extra...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var bad *BadRequestError
			if errors.As(err, &bad) != tc.bad || errors.Is(err, ErrUnsupported) == tc.bad {
				t.Fatalf("error %T, want bad request %v", err, tc.bad)
			}
		})
	}
}
