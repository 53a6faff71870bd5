package openai

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestStopSequences(t *testing.T) {
	tests := []struct {
		stop string // "" = absent
		want []string
		err  error
	}{
		{stop: "", want: nil},
		{stop: `null`, want: nil},
		{stop: ` "END" `, want: []string{"END"}},
		{stop: `["a","b"]`, want: []string{"a", "b"}},
		{stop: `[]`, want: []string{}},
		{stop: `3`, err: ErrStopType},
		{stop: `["a",1]`, err: ErrStopType},
		{stop: `{"a":1}`, err: ErrStopType},
	}
	for _, tc := range tests {
		t.Run(tc.stop, func(t *testing.T) {
			r := ChatCompletionRequest{Stop: json.RawMessage(tc.stop)}
			got, err := r.StopSequences()
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, %v; want %#v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestArgumentsObject(t *testing.T) {
	tests := []struct {
		args, want string
		err        error
	}{
		{args: "", want: "{}"},
		{args: "  \n", want: "{}"},
		{args: `{"q": "x"}`, want: `{"q": "x"}`}, // bytes unchanged
		{args: `{}`, want: `{}`},
		{args: `null`, err: ErrArgumentsNotObject},
		{args: `[1]`, err: ErrArgumentsNotObject},
		{args: `"s"`, err: ErrArgumentsNotObject},
		{args: `{"q":`, err: ErrArgumentsNotObject}, // a stream fragment is not complete arguments
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			got, err := FunctionCall{Name: "f", Arguments: tc.args}.ArgumentsObject()
			if !errors.Is(err, tc.err) || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
