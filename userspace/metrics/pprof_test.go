package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWithPprof(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("metrics"))
	})
	tests := []struct {
		name    string
		enabled bool
		path    string
		want    int
	}{
		{"off: no profiles", false, "/debug/pprof/", http.StatusNotFound},
		{"off: next still served", false, "/metrics", http.StatusOK},
		{"on: index", true, "/debug/pprof/", http.StatusOK},
		{"on: heap", true, "/debug/pprof/heap?debug=1", http.StatusOK},
		{"on: next still served", true, "/metrics", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WithPprof(next, tt.enabled).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.want {
				t.Fatalf("GET %s: status %d, want %d", tt.path, rec.Code, tt.want)
			}
		})
	}
}

func TestPprofEnabled(t *testing.T) {
	t.Setenv(PprofEnv, "")
	if PprofEnabled(false) || !PprofEnabled(true) {
		t.Fatal("without WEIR_PPROF only the debug level enables profiling")
	}
	t.Setenv(PprofEnv, "1")
	if !PprofEnabled(false) {
		t.Fatal("WEIR_PPROF=1 does not enable profiling")
	}
}
