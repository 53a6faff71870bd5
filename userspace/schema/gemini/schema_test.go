package gemini

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCleanSchema(t *testing.T) {
	tests := []struct {
		name, in, want, err string
		ordering            bool
	}{
		{name: "types upper-cased, unknown keywords stripped, order kept",
			in:   `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"z":{"type":"string","format":"uri","minLength":1},"a":{"type":"integer","format":"int64","exclusiveMinimum":0,"multipleOf":2}},"required":["z","missing"],"additionalProperties":false,"strict":true}`,
			want: `{"type":"OBJECT","properties":{"z":{"type":"STRING","minLength":1},"a":{"type":"INTEGER","format":"int64"}},"required":["z"]}`},
		{name: "property ordering for response schemas", ordering: true,
			in:   `{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"number"}}}`,
			want: `{"type":"OBJECT","properties":{"b":{"type":"STRING"},"a":{"type":"NUMBER"}},"propertyOrdering":["b","a"]}`},
		{name: "nullable from type array and anyOf null",
			in:   `{"type":"object","properties":{"x":{"type":["string","null"]},"y":{"anyOf":[{"type":"integer"},{"type":"null"}],"description":"d"}}}`,
			want: `{"type":"OBJECT","properties":{"x":{"type":"STRING","nullable":true},"y":{"type":"INTEGER","description":"d","nullable":true}}}`},
		{name: "refs inlined, const and oneOf rewritten",
			in:   `{"type":"object","$defs":{"Color":{"type":"string","enum":["red","blue"]}},"properties":{"c":{"$ref":"#/$defs/Color","description":"pick"},"k":{"const":"fixed"},"u":{"oneOf":[{"type":"string"},{"type":"number"}]}}}`,
			want: `{"type":"OBJECT","properties":{"c":{"type":"STRING","enum":["red","blue"],"description":"pick"},"k":{"enum":["fixed"]},"u":{"anyOf":[{"type":"STRING"},{"type":"NUMBER"}]}}}`},
		{name: "empty properties dropped, single allOf merged",
			in:   `{"type":"object","properties":{"o":{"type":"object","properties":{}},"m":{"allOf":[{"type":"string","description":"x"}]}}}`,
			want: `{"type":"OBJECT","properties":{"o":{"type":"OBJECT"},"m":{"type":"STRING","description":"x"}}}`},
		{name: "recursive ref", in: `{"$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}}}},"$ref":"#/$defs/N"}`, err: `recursive $ref "#/$defs/N"`},
		{name: "external ref", in: `{"$ref":"https://example.com/s.json"}`, err: "is not a local definition"},
		{name: "not", in: `{"type":"object","properties":{"a":{"not":{"type":"string"}}}}`, err: `/properties/a: keyword "not"`},
		{name: "allOf several", in: `{"allOf":[{"type":"string"},{"minLength":1}]}`, err: "allOf with several members"},
		{name: "integer enum", in: `{"type":"integer","enum":[1,2]}`, err: "only string enum values"},
		{name: "tuple items", in: `{"type":"array","items":[{"type":"string"}]}`, err: "tuple items"},
		{name: "multi type", in: `{"type":["string","number"]}`, err: "several non-null types"},
		{name: "not an object", in: `[]`, err: "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanSchema(json.RawMessage(tt.in), tt.ordering)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v\nwant %s", got, err, tt.want)
			}
		})
	}
}

func FuzzCleanSchema(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"type":["string","null"]}},"required":["a"]}`))
	f.Add([]byte(`{"$defs":{"A":{"$ref":"#/$defs/B"},"B":{"type":"string"}},"$ref":"#/$defs/A"}`))
	f.Add([]byte(`{"anyOf":[{"type":"null"}],"allOf":[{"oneOf":[{},{}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := CleanSchema(in, true)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %s", out)
		}
		again, err := CleanSchema(out, true)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %s → %s (%v)", out, again, err)
		}
	})
}
