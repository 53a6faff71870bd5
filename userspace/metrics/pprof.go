package metrics

import (
	"net/http"
	"net/http/pprof"
	"os"
)

// PprofEnv is the environment variable that turns on the profiling
// endpoints: WEIR_PPROF=1.
const PprofEnv = "WEIR_PPROF"

// PprofEnabled reports whether profiling is asked for: WEIR_PPROF=1, or
// debug is true (the process log level is debug).
func PprofEnabled(debug bool) bool {
	return debug || os.Getenv(PprofEnv) == "1"
}

// WithPprof serves net/http/pprof under /debug/pprof/ in front of next when
// enabled, and is next unchanged otherwise. It belongs on the admin listener
// only: profiles reveal code paths and timing, never on a client listener.
//
//	WEIR_PPROF=1 weir -config weir.yaml
//	go tool pprof -seconds 10 http://127.0.0.1:9901/debug/pprof/profile
//	go tool pprof http://127.0.0.1:9901/debug/pprof/allocs
func WithPprof(next http.Handler, enabled bool) http.Handler {
	if !enabled {
		return next
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", next)
	return mux
}
