package agent

import (
	"log/slog"
	"net/http"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/proxy"
	"github.com/weir-gateway/weir/userspace/server"
)

// listenerHandler composes what each client listener serves
// (listeners[].serve): the plain routes in front of the AI API (the
// default), only the AI API, or only the plain routes, where a request no
// route claims gets 404. A routes-only listener is what lets the kernel
// guard enforce the routes' source rules for its whole port (kernelroutes.go).
type listenerHandler struct {
	log   *slog.Logger
	plain *plainRoutes
	api   http.Handler
}

var _ server.ListenerHandler = listenerHandler{}

// ServeHTTP serves both, as a listener with the default serve list.
func (h listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.ForListener(config.Listener{}).ServeHTTP(w, r)
}

// ForListener returns l's handler.
func (h listenerHandler) ForListener(l config.Listener) http.Handler {
	switch api, routes := l.Serves(config.ServeAPI), l.Serves(config.ServeRoutes); {
	case api && routes:
		return proxy.Middleware(h.log, h.plain.handler(h.api))
	case routes:
		return proxy.Middleware(h.log, h.plain.handler(http.HandlerFunc(http.NotFound)))
	default:
		return proxy.Middleware(h.log, h.api)
	}
}
