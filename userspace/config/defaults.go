package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults filled by Load. A value that is absent or zero in the file takes
// its default, except a target's weight, where an explicit 0 means "only
// when the others in its priority group fail" and only an absent weight
// becomes 1. testdata/defaults.golden shows the result on a minimal file.
const (
	defaultListenerName    = "public"
	defaultListenerAddress = ":8080"
	defaultAdminAddress    = "127.0.0.1:9901"

	defaultMaxBodyBytes      = 16 << 20 // 16 MiB
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultKeepAliveInterval = 10 * time.Second
	defaultShutdownTimeout   = 30 * time.Second

	defaultLogLevel  = "info"
	defaultLogAccess = "stdout"

	defaultMaxAttempts      = 3
	defaultBackoff          = 100 * time.Millisecond
	defaultMaxBackoff       = 5 * time.Second
	defaultDeadline         = 10 * time.Minute
	defaultFailureThreshold = 5
	defaultOpenFor          = 30 * time.Second

	defaultConnectTimeout   = 5 * time.Second
	defaultFirstByteTimeout = 120 * time.Second
	defaultIdleChunkTimeout = 60 * time.Second

	defaultTargetWeight = 1

	defaultRateLimitBackend = "local"
	defaultOnRedisError     = "allow"
	defaultRedisTimeout     = 100 * time.Millisecond
	defaultRedisPrefix      = "weir:"
	defaultKernelBlockFor   = 30 * time.Second

	defaultDataplaneMode = "auto"
	defaultGuardHook     = "tc"

	defaultIngressClass = "nginx"
)

// Provider types.
const (
	typeOpenAI    = "openai"
	typeAnthropic = "anthropic"
	typeGemini    = "gemini"
	typeOffline   = "offline"
)

// providerDefaults holds what each provider type implies when the file is
// silent: how the credential is sent and, for single-vendor APIs, where.
var providerDefaults = map[string]struct{ authHeader, baseURL string }{
	typeOpenAI:    {authHeader: "authorization"},
	typeAnthropic: {authHeader: "x-api-key", baseURL: "https://api.anthropic.com"},
	typeGemini:    {authHeader: "x-goog-api-key", baseURL: "https://generativelanguage.googleapis.com"},
	typeOffline:   {},
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setInt[T int | int64](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// applyDefaults fills absent values. present reports whether the file gave
// a path a value; it only matters where zero is meaningful.
func applyDefaults(c *Config, present func(path string) bool) {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Name: defaultListenerName, Address: defaultListenerAddress}}
	}
	setString(&c.Admin.Address, defaultAdminAddress)

	s := &c.Server
	setInt(&s.MaxBodyBytes, defaultMaxBodyBytes)
	setDuration(&s.ReadHeaderTimeout, defaultReadHeaderTimeout)
	setDuration(&s.IdleTimeout, defaultIdleTimeout)
	setDuration(&s.KeepAliveInterval, defaultKeepAliveInterval)
	setDuration(&s.ShutdownTimeout, defaultShutdownTimeout)

	setString(&c.Log.Level, defaultLogLevel)
	setString(&c.Log.Access, defaultLogAccess)

	r := &c.Retry
	setInt(&r.MaxAttempts, defaultMaxAttempts)
	setDuration(&r.Backoff, defaultBackoff)
	setDuration(&r.MaxBackoff, defaultMaxBackoff)
	setDuration(&r.Deadline, defaultDeadline)
	setInt(&r.FailureThreshold, defaultFailureThreshold)
	setDuration(&r.OpenFor, defaultOpenFor)

	for i := range c.Providers {
		p := &c.Providers[i]
		if pd, ok := providerDefaults[p.Type]; ok {
			setString(&p.AuthHeader, pd.authHeader)
			setString(&p.BaseURL, pd.baseURL)
		}
		p.AuthHeader = strings.ToLower(p.AuthHeader)
		setDuration(&p.Timeouts.Connect, defaultConnectTimeout)
		setDuration(&p.Timeouts.FirstByte, defaultFirstByteTimeout)
		setDuration(&p.Timeouts.Idle, defaultIdleChunkTimeout)
	}
	for i := range c.Models {
		for j := range c.Models[i].Targets {
			if !present(fmt.Sprintf("models[%d].targets[%d].weight", i, j)) {
				c.Models[i].Targets[j].Weight = defaultTargetWeight
			}
		}
	}

	rl := &c.RateLimit
	setString(&rl.Backend, defaultRateLimitBackend)
	setString(&rl.OnRedisError, defaultOnRedisError)
	setDuration(&rl.Redis.Timeout, defaultRedisTimeout)
	setString(&rl.Redis.Prefix, defaultRedisPrefix)
	setDuration(&rl.KernelBlockFor, defaultKernelBlockFor)

	setString(&c.Dataplane.Mode, defaultDataplaneMode)
	setString(&c.Dataplane.Guard.Hook, defaultGuardHook)

	setString(&c.Kubernetes.Ingress.Class, defaultIngressClass)
}
