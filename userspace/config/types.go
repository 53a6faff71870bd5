// Package config holds weir's configuration: the YAML schema of DESIGN.md's
// external contract, strict decoding with ${ENV} expansion, defaults and
// validation that reports every error with its path.
package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Config is the whole configuration file (version 1).
type Config struct {
	Version   int        `yaml:"version" json:"version"`
	Listeners []Listener `yaml:"listeners" json:"listeners"`
	Admin     Admin      `yaml:"admin" json:"admin"`
	Server    Server     `yaml:"server" json:"server"`
	Log       Log        `yaml:"log" json:"log"`
	Retry     Retry      `yaml:"retry" json:"retry"`
	Providers []Provider `yaml:"providers" json:"providers"`
	Models    []Model    `yaml:"models" json:"models"`
	Tenants   []Tenant   `yaml:"tenants" json:"tenants"`
	RateLimit RateLimit  `yaml:"ratelimit" json:"ratelimit"`
	Dataplane Dataplane  `yaml:"dataplane" json:"dataplane"`
	// Routes are plain HTTP routes (see routes.go).
	Routes []Route `yaml:"routes" json:"routes,omitempty"`
	// Kubernetes feeds routes from the cluster beside Routes.
	Kubernetes Kubernetes `yaml:"kubernetes" json:"kubernetes,omitzero"`
}

// Kubernetes configures the cluster providers of plain HTTP routes.
type Kubernetes struct {
	Ingress KubernetesIngress `yaml:"ingress" json:"ingress,omitzero"`
}

// KubernetesIngress watches Ingresses of one class and serves their routes
// after the file's routes (which win a conflict by being first).
type KubernetesIngress struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Class is the ingress class to serve; default "nginx".
	Class string `yaml:"class" json:"class,omitempty"`
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster service account.
	Kubeconfig string `yaml:"kubeconfig" json:"kubeconfig,omitempty"`
	// StatusAddress, when set, is written to the load-balancer status of
	// every Ingress weir serves (an IP address or a host name), and cleared
	// (that address only; others are kept) from one weir stops serving: its
	// class changed or all its paths are disabled. It is kept on shutdown,
	// since other nodes or the upgraded process still serve it.
	StatusAddress string `yaml:"status_address" json:"status_address,omitempty"`
	// Certificates reads the Secrets of the imported Ingresses: the TLS
	// certificates of spec.tls and the upstream client certificates and CAs
	// of proxy-ssl-secret. The service account needs get, list and watch on
	// secrets; without them such Ingresses are not imported and the report
	// says why.
	Certificates bool `yaml:"certificates" json:"certificates"`
}

// Listener is one address weir accepts client traffic on. With no listeners
// configured, Load adds one named "public" on ":8080".
type Listener struct {
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address" json:"address"`
	// TLS, when set, terminates TLS (HTTP/1.1 and HTTP/2 by ALPN); without it
	// the listener speaks HTTP/1.1 and h2c.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// HTTP3 also serves HTTP/3 over QUIC on the same port (UDP); needs TLS.
	HTTP3 bool `yaml:"http3" json:"http3"`
	// HTTP3Workers is the number of QUIC worker sockets, each owning the
	// connections whose IDs name it (steered in the kernel by an
	// sk_reuseport program). 0 means GOMAXPROCS (at most 64); 1 is a single
	// socket without the program. dataplane.mode off forces 1.
	HTTP3Workers int `yaml:"http3_workers" json:"http3_workers,omitempty"`
	// Serve is what the listener answers: "api" (the AI API: /v1/...),
	// "routes" (the plain HTTP routes, routes: and Kubernetes Ingress), or
	// both (the default, also when empty). A routes-only listener lets the
	// kernel guard enforce the routes' source ranges and per-client
	// connection rates for the whole port (see docs/operations.md).
	Serve []string `yaml:"serve" json:"serve,omitempty"`
}

// The values of Listener.Serve.
const (
	ServeAPI    = "api"
	ServeRoutes = "routes"
)

// Serves reports whether the listener answers what (ServeAPI or
// ServeRoutes); an empty Serve answers both.
func (l Listener) Serves(what string) bool {
	if len(l.Serve) == 0 {
		return true
	}
	for _, s := range l.Serve {
		if s == what {
			return true
		}
	}
	return false
}

// TLS configures certificates for a listener: files, or a self-signed
// certificate generated at start.
type TLS struct {
	CertFile   string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile    string `yaml:"key_file" json:"key_file,omitempty"`
	SelfSigned bool   `yaml:"self_signed" json:"self_signed"`
}

// Admin is the operator listener: /metrics /healthz /readyz /config.
type Admin struct {
	// Address is host:port; default "127.0.0.1:9901".
	Address string `yaml:"address" json:"address"`
}

// Server holds limits and timeouts that apply to every client request.
type Server struct {
	// MaxBodyBytes is the largest request body accepted (413 beyond); default 16 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// ReadHeaderTimeout bounds how long a client may take to send headers; default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive client connections; default 120s.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// KeepAliveInterval is how often an SSE comment is sent to a streaming
	// client while weir waits for the first token; default 10s.
	KeepAliveInterval Duration `yaml:"keepalive_interval" json:"keepalive_interval"`
	// ShutdownTimeout bounds the drain of in-flight requests at exit; default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`
}

// Log configures the process log and the access log.
type Log struct {
	Level string `yaml:"level" json:"level"` // debug|info|warn|error; default info
	// Access is where the JSON access log goes: "stdout" (the default),
	// "stderr", "off" or a file path.
	Access string `yaml:"access" json:"access"`
}

// Retry is the attempt loop policy shared by all models.
type Retry struct {
	// MaxAttempts bounds upstream attempts per request (first try included); default 3.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
	// Backoff is the initial delay before retrying a network error or 5xx; it
	// doubles per retry. Default 100ms.
	Backoff Duration `yaml:"backoff" json:"backoff"`
	// MaxBackoff caps Backoff and a honoured Retry-After; default 5s.
	MaxBackoff Duration `yaml:"max_backoff" json:"max_backoff"`
	// Deadline is the overall time budget of one client request; default 10m.
	Deadline Duration `yaml:"deadline" json:"deadline"`
	// FailureThreshold consecutive failures open a target's circuit; default 5.
	FailureThreshold int `yaml:"failure_threshold" json:"failure_threshold"`
	// OpenFor is how long an open circuit waits before a half-open probe; default 30s.
	OpenFor Duration `yaml:"open_for" json:"open_for"`
}

// Provider is one upstream model service.
type Provider struct {
	Name string `yaml:"name" json:"name"`
	// Type is the wire protocol: openai (any OpenAI-compatible server), anthropic,
	// gemini, or offline (an in-process canned model for first runs and tests).
	Type string `yaml:"type" json:"type"`
	// BaseURL is an absolute http(s) URL; required except for offline.
	// Default https://api.anthropic.com for anthropic and
	// https://generativelanguage.googleapis.com for gemini.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIKey is the provider credential (usually "${ENV_VAR}").
	APIKey Secret `yaml:"api_key" json:"api_key,omitempty"`
	// APIKeyFile reads the credential from a file (Kubernetes Secret mounts).
	// Load reads it into APIKey (surrounding white space trimmed); it cannot
	// be combined with APIKey.
	APIKeyFile string `yaml:"api_key_file" json:"api_key_file,omitempty"`
	// AuthHeader overrides how the credential is sent: "authorization"
	// (Bearer, the openai default), "api-key" (Azure OpenAI), "x-api-key"
	// (the anthropic default) or "x-goog-api-key" (the gemini default).
	// Offline has no default. Load lower-cases it.
	AuthHeader string `yaml:"auth_header" json:"auth_header,omitempty"`
	// APIVersion is added as ?api-version= (Azure OpenAI) or sent as
	// anthropic-version (Anthropic).
	APIVersion string `yaml:"api_version" json:"api_version,omitempty"`
	// Headers are extra request headers sent upstream. Values are treated as secrets in /config.
	Headers  map[string]Secret `yaml:"headers" json:"headers,omitempty"`
	Timeouts Timeouts          `yaml:"timeouts" json:"timeouts"`
}

// Timeouts bound one upstream attempt.
type Timeouts struct {
	// Connect bounds dialing and the TLS handshake; default 5s.
	Connect Duration `yaml:"connect" json:"connect"`
	// FirstByte bounds the wait for the response headers; default 120s.
	FirstByte Duration `yaml:"first_byte" json:"first_byte"`
	// Idle is the longest gap allowed between two stream chunks; default 60s.
	Idle Duration `yaml:"idle" json:"idle"`
}

// Model maps a client-visible model name (or glob) to upstream targets.
type Model struct {
	// Name is what clients send; may be a glob such as "gpt-4o*".
	Name string `yaml:"name" json:"name"`
	// MatchHeaders, when set, restricts this entry to requests carrying every
	// header with exactly that value (e.g. {x-weir-route: canary}).
	MatchHeaders map[string]string `yaml:"match_headers" json:"match_headers,omitempty"`
	Targets      []Target          `yaml:"targets" json:"targets"`
}

// Target is one provider + upstream model inside a model route.
type Target struct {
	Provider string `yaml:"provider" json:"provider"`
	// Model is the upstream model name; empty passes the client's model through.
	Model string `yaml:"model" json:"model"`
	// Priority orders groups of targets: lower first. Default 0.
	Priority int `yaml:"priority" json:"priority"`
	// Weight splits traffic inside a priority group. An absent weight is 1;
	// an explicit 0 makes the target a standby used only when the others of
	// its group fail.
	Weight int `yaml:"weight" json:"weight"`
}

// Tenant is a team, application or customer with keys and limits.
type Tenant struct {
	Name string `yaml:"name" json:"name"`
	Keys []Key  `yaml:"keys" json:"keys"`
	// Models is an allow-list of model names or globs; empty allows all.
	Models []string `yaml:"models" json:"models,omitempty"`
	Limits Limits   `yaml:"limits" json:"limits"`
	// ModelLimits are extra limits per model glob for this tenant.
	ModelLimits map[string]Limits `yaml:"model_limits" json:"model_limits,omitempty"`
	// Sources are client CIDRs the kernel guard classifies as this tenant.
	Sources []string     `yaml:"sources" json:"sources,omitempty"`
	Kernel  KernelLimits `yaml:"kernel" json:"kernel"`
}

// Key is one tenant API key, given as a SHA-256 hex digest or read from an
// environment variable at load time.
type Key struct {
	SHA256 string `yaml:"sha256" json:"sha256,omitempty"`
	Env    string `yaml:"env" json:"env,omitempty"`

	// envDigest is the SHA-256 of the Env variable's value, set by Load so
	// that the clear key is never kept in memory; envResolved says it is set.
	envDigest   [32]byte
	envResolved bool
}

// Limits are L7 limits enforced in Go; zero means unlimited.
type Limits struct {
	RequestsPerMinute  int64 `yaml:"requests_per_minute" json:"requests_per_minute,omitempty"`
	TokensPerMinute    int64 `yaml:"tokens_per_minute" json:"tokens_per_minute,omitempty"`
	TokensPerDay       int64 `yaml:"tokens_per_day" json:"tokens_per_day,omitempty"`
	ConcurrentRequests int64 `yaml:"concurrent_requests" json:"concurrent_requests,omitempty"`
}

// KernelLimits are coarse L3/L4 limits enforced by the eBPF guard; zero means unlimited.
type KernelLimits struct {
	PacketsPerSecond     uint64 `yaml:"packets_per_second" json:"packets_per_second,omitempty"`
	ConnectionsPerSecond uint64 `yaml:"connections_per_second" json:"connections_per_second,omitempty"`
	// SourceConnectionsPerSecond limits new connections per client address.
	SourceConnectionsPerSecond uint64 `yaml:"source_connections_per_second" json:"source_connections_per_second,omitempty"`
}

// RateLimit selects where L7 budgets live.
type RateLimit struct {
	Backend string `yaml:"backend" json:"backend"` // local|redis; default local
	Redis   Redis  `yaml:"redis" json:"redis"`
	// OnRedisError decides requests while Redis is unreachable: allow (the
	// default) or deny.
	OnRedisError string `yaml:"on_redis_error" json:"on_redis_error"`
	// KernelBlockAfter is how many rejected requests in a row make weir ask
	// the kernel guard to block a tenant; 0 disables the hand-off.
	KernelBlockAfter int `yaml:"kernel_block_after" json:"kernel_block_after"`
	// KernelBlockFor is how long such a block lasts; default 30s.
	KernelBlockFor Duration `yaml:"kernel_block_for" json:"kernel_block_for"`
}

// Redis is the shared budget store.
type Redis struct {
	Address  string `yaml:"address" json:"address"`
	Password Secret `yaml:"password" json:"password,omitempty"`
	DB       int    `yaml:"db" json:"db"`
	// Timeout bounds each Redis command; default 100ms.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Prefix namespaces weir's keys; default "weir:".
	Prefix string `yaml:"prefix" json:"prefix"`
}

// Dataplane configures the eBPF programs.
type Dataplane struct {
	Mode  string `yaml:"mode" json:"mode"` // auto|on|off; default auto
	Guard Guard  `yaml:"guard" json:"guard"`
	// Steer is kernel connection steering (see steer.go).
	Steer Steer `yaml:"steer" json:"steer,omitzero"`
}

// Guard is the per-tenant kernel admission program.
type Guard struct {
	Hook       string   `yaml:"hook" json:"hook"` // tc|xdp; default tc
	Interfaces []string `yaml:"interfaces" json:"interfaces"`
	// Default are the limits of sources that match no tenant.
	Default KernelLimits `yaml:"default" json:"default"`
	// Deny CIDRs are dropped outright.
	Deny []string `yaml:"deny" json:"deny,omitempty"`
}

// Secret is a credential. It prints as "[redacted]" in JSON, YAML and fmt
// so /config, logs and errors never carry it.
type Secret string

// Value returns the secret in clear; call it only where it is sent upstream.
func (s Secret) Value() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer so %#v does not leak either.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a time.Duration written as "1.5s" or "250ms" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String implements fmt.Stringer.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}
