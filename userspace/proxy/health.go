package proxy

import (
	"sync"
	"time"
)

// Health is passive health per upstream target and per provider credential:
// consecutive failures open a circuit; after a pause one half-open probe is
// let through, and its success closes the circuit again. It lives for the
// whole process, across config snapshots.
type Health struct {
	mu       sync.Mutex
	circuits map[string]*circuit
	// badCredential holds, per provider, when a 401/403 stops being held against it.
	badCredential map[string]time.Time
	now           func() time.Time
	// OnChange is told when a circuit opens or closes (for the healthy gauge).
	OnChange func(key string, healthy bool)
}

type circuit struct {
	failures  int
	openUntil time.Time
	open      bool
	probing   bool
}

// NewHealth returns an empty health table.
func NewHealth() *Health {
	return &Health{circuits: map[string]*circuit{}, badCredential: map[string]time.Time{}, now: time.Now}
}

// Allow reports whether key may be tried now. An open circuit whose pause has
// passed admits exactly one probe at a time.
func (h *Health) Allow(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.circuits[key]
	if c == nil || !c.open {
		return true
	}
	if c.probing || h.now().Before(c.openUntil) {
		return false
	}
	c.probing = true
	return true
}

// Success closes key's circuit.
func (h *Health) Success(key string) {
	h.mu.Lock()
	c := h.circuits[key]
	changed := c != nil && c.open
	if c != nil {
		*c = circuit{}
	}
	h.mu.Unlock()
	if changed && h.OnChange != nil {
		h.OnChange(key, true)
	}
}

// Failure counts a failure of key; threshold consecutive failures (or a
// failed probe) open the circuit for openFor.
func (h *Health) Failure(key string, threshold int, openFor time.Duration) {
	h.mu.Lock()
	c := h.circuits[key]
	if c == nil {
		c = &circuit{}
		h.circuits[key] = c
	}
	c.failures++
	opened := false
	if c.probing || c.failures >= threshold {
		opened = !c.open
		c.open = true
		c.probing = false
		c.openUntil = h.now().Add(openFor)
	}
	h.mu.Unlock()
	if opened && h.OnChange != nil {
		h.OnChange(key, false)
	}
}

// Release ends a probe that finished without a verdict (for example a client
// that went away), so the next request can probe.
func (h *Health) Release(key string) {
	h.mu.Lock()
	if c := h.circuits[key]; c != nil {
		c.probing = false
	}
	h.mu.Unlock()
}

// CredentialFailed marks provider's credential unhealthy for d after the
// provider answered 401 or 403: its targets are skipped until then.
func (h *Health) CredentialFailed(provider string, d time.Duration) {
	h.mu.Lock()
	h.badCredential[provider] = h.now().Add(d)
	h.mu.Unlock()
	if h.OnChange != nil {
		h.OnChange("credential:"+provider, false)
	}
}

// CredentialOK reports whether provider's credential may be used now.
func (h *Health) CredentialOK(provider string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.badCredential[provider]
	if !ok {
		return true
	}
	if h.now().Before(until) {
		return false
	}
	delete(h.badCredential, provider)
	return true
}

// Healthy reports whether key's circuit is closed, without taking a probe.
func (h *Health) Healthy(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.circuits[key]
	return c == nil || !c.open
}
