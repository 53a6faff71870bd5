package portrules

import "testing"

func TestTextRoundTrip(t *testing.T) {
	for _, p := range []Proto{TCP, UDP, 132} {
		b, _ := p.MarshalText()
		var got Proto
		if err := got.UnmarshalText(b); err != nil || got != p {
			t.Errorf("proto %d: %q -> %d, %v", p, b, got, err)
		}
	}
	for _, a := range []Action{Pass, Drop, Limit, 7} {
		b, _ := a.MarshalText()
		var got Action
		if err := got.UnmarshalText(b); err != nil || got != a {
			t.Errorf("action %d: %q -> %d, %v", a, b, got, err)
		}
	}
	var p Proto
	if err := p.UnmarshalText([]byte("sctp")); err == nil {
		t.Error("sctp accepted")
	}
	var a Action
	if err := a.UnmarshalText([]byte("7")); err == nil {
		t.Error("a bare number accepted as an action")
	}
}
