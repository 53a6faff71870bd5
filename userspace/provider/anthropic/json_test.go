package anthropic

import (
	"testing"
)

func TestReplaceModel(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "bytes around the value are kept", in: "{\"model\" : \"a\",\"x\":1.50,\"s\":\"\\u2028\" }", want: "{\"model\" : \"up/m\",\"x\":1.50,\"s\":\"\\u2028\" }"},
		{name: "nested model keys untouched", in: `{"metadata":{"model":"keep"},"model":"a"}`, want: `{"metadata":{"model":"keep"},"model":"up/m"}`},
		{name: "escaped key", in: `{"mod\u0065l":"a"}`, want: `{"mod\u0065l":"up/m"}`},
		{name: "duplicate keys all replaced", in: `{"model":"a","model":"b"}`, want: `{"model":"up/m","model":"up/m"}`},
		{name: "non-string model", in: `{"model":{"x":[1,2]}}`, want: `{"model":"up/m"}`},
		{name: "missing model", in: `{"x":1}`, err: "request body: missing required field: model"},
		{name: "array", in: `[1]`, err: "request body must be a JSON object"},
		{name: "trailing data", in: `{"model":"a"} {}`, err: "request body: data after the JSON object"},
		{name: "truncated", in: `{"model":"a"`, err: "request body: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceModel([]byte(tt.in), "up/m")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func FuzzReplaceModel(f *testing.F) {
	f.Add([]byte(`{"model":"a","messages":[]}`))
	f.Add([]byte(`{"model":"a","model":1}`))
	f.Add([]byte(`{"a":{"model":"x"},"model":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := replaceModel(body, "m")
		if err != nil {
			return
		}
		if _, err := replaceModel(out, "m"); err != nil {
			t.Fatalf("output is not a valid body: %v", err)
		}
	})
}
