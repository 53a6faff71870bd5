package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/ratelimit"
)

const (
	keyA1 = "sk-team-a-0123456789"
	keyA2 = "sk-team-a-rotated-key"
	keyB  = "sk-team-b-abcdef"
)

func testAuth(t testing.TB) *Authenticator {
	t.Helper()
	a, err := New([]Spec{
		{Name: "team-a", Digests: [][32]byte{Digest(keyA1), Digest(keyA2)}, Models: []string{"weir-test", "mock-*"},
			Limits: ratelimit.Limits{RequestsPerMinute: 600},
			ModelLimits: map[string]ratelimit.Limits{
				"mock-*":     {TokensPerMinute: 1000},
				"mock-gpt*":  {TokensPerMinute: 500},
				"mock-gpt-4": {TokensPerMinute: 100},
			}},
		{Name: "team-b", Digests: [][32]byte{Digest(keyB)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestAuthenticate(t *testing.T) {
	a := testAuth(t)
	tests := []struct {
		name   string
		h      http.Header
		tenant string
		err    error
	}{
		{"bearer", hdr("Authorization", "Bearer "+keyA1), "team-a", nil},
		{"bearer scheme is case-insensitive", hdr("authorization", "bearer "+keyB), "team-b", nil},
		{"second key of a tenant", hdr("Authorization", "Bearer "+keyA2), "team-a", nil},
		{"x-api-key", hdr("x-api-key", keyB), "team-b", nil},
		{"api-key", hdr("api-key", keyA1), "team-a", nil},
		{"surrounding spaces", hdr("x-api-key", "  "+keyB+" "), "team-b", nil},
		{"authorization first", hdr("Authorization", "Bearer "+keyA1, "x-api-key", keyB), "team-a", nil},
		{"x-api-key before api-key", hdr("api-key", keyA1, "x-api-key", keyB), "team-b", nil},
		{"first present key decides", hdr("Authorization", "Bearer nope", "x-api-key", keyB), "", ErrInvalidKey},
		{"other scheme is skipped", hdr("Authorization", "Basic dXNlcjpwYXNz", "x-api-key", keyB), "team-b", nil},
		{"other scheme only", hdr("Authorization", "Basic dXNlcjpwYXNz"), "", ErrMissingKey},
		{"empty bearer", hdr("Authorization", "Bearer   "), "", ErrMissingKey},
		{"bare bearer", hdr("Authorization", "Bearer"), "", ErrMissingKey},
		{"no headers", hdr(), "", ErrMissingKey},
		{"empty x-api-key", hdr("x-api-key", ""), "", ErrMissingKey},
		{"unknown key", hdr("Authorization", "Bearer sk-unknown"), "", ErrInvalidKey},
		{"prefix of a key", hdr("x-api-key", keyA1[:len(keyA1)-1]), "", ErrInvalidKey},
		{"key is case-sensitive", hdr("x-api-key", strings.ToUpper(keyB)), "", ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ten, err := a.Authenticate(tt.h)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				if ten != nil {
					t.Fatalf("tenant %q with error", ten.Name)
				}
				return
			}
			if ten.Name != tt.tenant {
				t.Fatalf("tenant = %q, want %q", ten.Name, tt.tenant)
			}
		})
	}
}

func TestUnauthenticatedMode(t *testing.T) {
	for _, specs := range [][]Spec{nil, {}} {
		a, err := New(specs)
		if err != nil {
			t.Fatal(err)
		}
		if a.Enabled() {
			t.Fatal("no tenants must not require keys")
		}
		ten, err := a.Authenticate(hdr())
		if err != nil || ten == nil || ten.Name != "" || !ten.Allows("anything/at-all") || !ten.Limits().IsZero() {
			t.Fatalf("Authenticate() = %+v, %v; want the anonymous tenant", ten, err)
		}
	}
	var nilAuth *Authenticator
	if nilAuth.Enabled() {
		t.Fatal("nil Authenticator enabled")
	}
	if !testAuth(t).Enabled() {
		t.Fatal("tenants configured but not Enabled")
	}
}

// TestFailedAuthLeaksNoKey checks that neither the error nor a log line of a
// failed or successful authentication carries the presented key.
func TestFailedAuthLeaksNoKey(t *testing.T) {
	a := testAuth(t)
	presented := []string{"sk-secret-presented-key-123", keyA1}
	for _, key := range presented {
		for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key"} {
			v := key
			if h == "Authorization" {
				v = "Bearer " + key
			}
			ten, err := a.Authenticate(hdr(h, v))
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			log.Warn("authentication", "err", err, "tenant", ten)
			log.Info("authentication", slog.Any("error", err))
			if err != nil && strings.Contains(err.Error(), key) {
				t.Fatalf("error %q contains the key", err)
			}
			if strings.Contains(buf.String(), key) || strings.Contains(buf.String(), key[3:]) {
				t.Fatalf("log contains the key: %s", buf.String())
			}
		}
	}
}

func TestAllows(t *testing.T) {
	a := testAuth(t)
	teamA, teamB := a.Tenant("team-a"), a.Tenant("team-b")
	tests := []struct {
		tenant *Tenant
		model  string
		want   bool
	}{
		{teamA, "weir-test", true},
		{teamA, "mock-gpt", true},
		{teamA, "mock-", true},
		{teamA, "weir-test-2", false},
		{teamA, "gpt-4o", false},
		{teamA, "", false},
		{teamB, "gpt-4o", true}, // empty allow-list allows all
		{teamB, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.tenant.Name+"/"+tt.model, func(t *testing.T) {
			if got := tt.tenant.Allows(tt.model); got != tt.want {
				t.Fatalf("Allows(%q) = %v, want %v", tt.model, got, tt.want)
			}
		})
	}
}

func TestModelLimitsMostSpecificFirst(t *testing.T) {
	teamA := testAuth(t).Tenant("team-a")
	tests := []struct {
		model   string
		pattern string
		tpm     int64
	}{
		{"mock-gpt-4", "mock-gpt-4", 100},
		{"mock-gpt-3", "mock-gpt*", 500},
		{"mock-claude", "mock-*", 1000},
		{"weir-test", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			p, l, ok := teamA.ModelLimits(tt.model)
			if ok != (tt.pattern != "") || p != tt.pattern || l.TokensPerMinute != tt.tpm {
				t.Fatalf("ModelLimits(%q) = %q, %+v, %v", tt.model, p, l, ok)
			}
			r := teamA.RateRequest(tt.model, 42)
			if r.Tenant != "team-a" || r.Tokens != 42 || r.Limits.RequestsPerMinute != 600 {
				t.Fatalf("RateRequest = %+v", r)
			}
			if (r.ModelLimits != nil) != ok || (ok && (r.Model != tt.pattern || r.ModelLimits.TokensPerMinute != tt.tpm)) {
				t.Fatalf("RateRequest model part = %q %+v", r.Model, r.ModelLimits)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	d := Digest("k")
	tests := []struct {
		name  string
		specs []Spec
		want  string
	}{
		{"empty name", []Spec{{Digests: [][32]byte{d}}}, "tenants[0]: empty name"},
		{"duplicate name", []Spec{{Name: "a"}, {Name: "a"}}, `duplicate tenant name "a"`},
		{"shared key", []Spec{{Name: "a", Digests: [][32]byte{d}}, {Name: "b", Digests: [][32]byte{d}}},
			`tenant "b": keys[0] is also a key of tenant "a"`},
		{"repeated key", []Spec{{Name: "a", Digests: [][32]byte{d, d}}}, `tenant "a": keys[1] repeats`},
		{"bad model glob", []Spec{{Name: "a", Models: []string{"gpt-["}}}, `models[0]: invalid glob "gpt-["`},
		{"bad limits glob", []Spec{{Name: "a", ModelLimits: map[string]ratelimit.Limits{"[": {}}}}, `invalid glob "["`},
		{"negative limit", []Spec{{Name: "a", Limits: ratelimit.Limits{TokensPerDay: -1}}}, "negative limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.specs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	// Every problem is reported, not only the first.
	_, err := New([]Spec{{}, {Name: "x", Models: []string{"["}}})
	if err == nil || !strings.Contains(err.Error(), "empty name") || !strings.Contains(err.Error(), "invalid glob") {
		t.Fatalf("New() = %v, want both errors", err)
	}
}

func TestParseDigest(t *testing.T) {
	want := Digest("hello")
	tests := []struct {
		in  string
		err string
	}{
		{"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", ""},
		{"2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824", ""},
		{"2cf24d", "64 hex characters"},
		{strings.Repeat("zz", 32), "not hex"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDigest(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseDigest = %v, want error %q", err, tt.err)
				}
				return
			}
			if err != nil || got != want {
				t.Fatalf("ParseDigest = %x, %v", got, err)
			}
		})
	}
}

// FuzzAuthenticate checks that no header value panics, that only the
// configured keys authenticate, and that errors never echo the input.
func FuzzAuthenticate(f *testing.F) {
	a := testAuth(f)
	for _, s := range []string{"Bearer " + keyA1, "bearer", "Bearer ", "Basic x", keyB, "", "Bearer \x00\xff"} {
		f.Add(s, keyB)
	}
	f.Fuzz(func(t *testing.T, authz, xkey string) {
		ten, err := a.Authenticate(hdr("Authorization", authz, "X-Api-Key", xkey))
		if err != nil {
			if ten != nil || (!errors.Is(err, ErrMissingKey) && !errors.Is(err, ErrInvalidKey)) {
				t.Fatalf("unexpected %v, %v", ten, err)
			}
			return
		}
		k, _ := presentedKey(hdr("Authorization", authz, "X-Api-Key", xkey))
		if want := map[string]string{keyA1: "team-a", keyA2: "team-a", keyB: "team-b"}[k]; ten.Name != want {
			t.Fatalf("key %q authenticated as %q", k, ten.Name)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	specs := make([]Spec, 100)
	for i := range specs {
		specs[i] = Spec{Name: "t" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Digests: [][32]byte{Digest("key-" + specs[i].Name + string(rune(i)))}}
	}
	specs[99].Digests = [][32]byte{Digest(keyA1)}
	a, err := New(specs)
	if err != nil {
		b.Fatal(err)
	}
	h := hdr("Authorization", "Bearer "+keyA1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(h); err != nil {
			b.Fatal(err)
		}
	}
}
