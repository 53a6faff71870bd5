// Package admin serves the operator endpoints on their own listener:
// /metrics, /healthz, /readyz and /config (secrets redacted).
package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weir-gateway/weir/userspace/snapshot"
)

// State is what the agent tells the admin endpoints.
type State struct {
	ready     atomic.Bool
	lastError atomic.Pointer[reloadError]
	kube      atomic.Pointer[json.RawMessage]
}

type reloadError struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// SetReady flips /readyz (false while starting and while draining).
func (s *State) SetReady(v bool) { s.ready.Store(v) }

// Ready reports the readiness.
func (s *State) Ready() bool { return s.ready.Load() }

// SetReloadError records the last failed reload; nil clears it.
func (s *State) SetReloadError(err error) {
	if err == nil {
		s.lastError.Store(nil)
		return
	}
	s.lastError.Store(&reloadError{At: time.Now().UTC(), Message: err.Error()})
}

// SetKubernetes publishes the Kubernetes provider's status (any JSON
// value; it must hold no secret) under "kubernetes" in /config.
func (s *State) SetKubernetes(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kubernetes status: %w", err)
	}
	m := json.RawMessage(b)
	s.kube.Store(&m)
	return nil
}

// Handler returns the admin mux.
func Handler(store *snapshot.Store, g prometheus.Gatherer, st *State, redact func(*snapshot.Snapshot) ([]byte, error)) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !st.Ready() || store.Load() == nil {
			http.Error(w, "not ready\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		snap := store.Load()
		if snap == nil {
			http.Error(w, "no configuration loaded\n", http.StatusServiceUnavailable)
			return
		}
		cfg, err := redact(snap)
		if err != nil {
			http.Error(w, "render config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		out := struct {
			Generation      uint64          `json:"generation"`
			LoadedAt        time.Time       `json:"loaded_at"`
			LastReloadError *reloadError    `json:"last_reload_error"`
			Config          json.RawMessage `json:"config"`
			Kubernetes      json.RawMessage `json:"kubernetes,omitempty"`
		}{snap.Generation, snap.LoadedAt.UTC(), st.lastError.Load(), cfg, nil}
		if k := st.kube.Load(); k != nil {
			out.Kubernetes = *k
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, '\n'))
	})
	return mux
}
