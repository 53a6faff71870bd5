package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/userspace/config"
)

// dataplaneRootEnv overrides the guard's pin directory (default
// /sys/fs/bpf/weir), e.g. to run a second weir on one host or in a lab.
const dataplaneRootEnv = "WEIR_DATAPLANE_ROOT"

// desiredFromConfig is the kernel guard's view of a configuration and its
// own plain routes (desired with c.Routes).
func desiredFromConfig(c *config.Config) dataplane.Desired { return desired(c, c.Routes) }

// desired is the kernel guard's view of a configuration: each tenant's
// sources and kernel limits, the default class's limits, the deny list and
// the listener-wide rules (portRules) of routes, the plain routes in force:
// the config's, plus the Kubernetes routes when kubernetes.ingress is
// enabled (Agent.syncKernel recompiles on every installed Ingress update).
// A kernel rate of N/s gets a burst of N (one second's worth).
//
// Tenant ids are not derived here: the data plane keeps the id of every
// tenant name in its pinned weir_tenants map, so reordering, adding or
// removing tenants never moves another tenant's bucket state or counters,
// across reloads and restarts alike.
//
// The config is validated before it gets here; a CIDR that still does not
// parse becomes an invalid prefix, which Sync reports with its position
// instead of dropping it silently.
func desired(c *config.Config, routes []config.Route) dataplane.Desired {
	d := dataplane.Desired{Default: kernelLimits(c.Dataplane.Guard.Default)}
	for _, t := range c.Tenants {
		dt := dataplane.Tenant{Name: t.Name, Limits: kernelLimits(t.Kernel)}
		for _, s := range t.Sources {
			p, _ := netip.ParsePrefix(s)
			dt.Sources = append(dt.Sources, dataplane.Source{Prefix: p})
		}
		d.Tenants = append(d.Tenants, dt)
	}
	for _, s := range c.Dataplane.Guard.Deny {
		p, _ := netip.ParsePrefix(s)
		d.Deny = append(d.Deny, p)
	}
	d.Ports = portRules(c, routes)
	return d
}

func kernelLimits(k config.KernelLimits) dataplane.Limits {
	r := func(perSec uint64) dataplane.Rate { return dataplane.Rate{PerSecond: perSec, Burst: perSec} }
	return dataplane.Limits{
		Packets:           r(k.PacketsPerSecond),
		Connections:       r(k.ConnectionsPerSecond),
		SourceConnections: r(k.SourceConnectionsPerSecond),
	}
}

// startDataplane starts the kernel guard as dataplane.mode says and syncs it
// with c:
//   - off: no guard (dataplane.Noop);
//   - auto: the guard if this kernel and process can run it, else one log
//     line and dataplane.Noop (the L7 limits still hold);
//   - on: the guard, or an error.
//
// It registers weir_dataplane_feature{feature} (what the kernel offers, plus
// "guard": whether the guard runs) and, with the guard, the scrape-time
// weir_dataplane_packets_total / weir_dataplane_bytes_total collector.
// Reloads and Ingress updates call Agent.syncKernel on the result; shutdown calls
// Close, which leaves the guard attached and enforcing for the next start.
func startDataplane(ctx context.Context, c *config.Config, log *slog.Logger, reg prometheus.Registerer) (dataplane.Datapath, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log = log.With("component", "dataplane")
	features := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weir_dataplane_feature",
		Help: "Kernel features the data plane can use (1) or not (0); feature=\"guard\" is whether the kernel guard runs.",
	}, []string{"feature"})
	if existing, err := register(reg, features, false); err != nil {
		return nil, err
	} else if gv, ok := existing.(*prometheus.GaugeVec); ok {
		features = gv
	}
	report := func(caps *dataplane.Capabilities, running bool) {
		if caps != nil {
			for name, ok := range caps.Features() {
				features.WithLabelValues(name).Set(boolGauge(ok))
			}
		}
		features.WithLabelValues("guard").Set(boolGauge(running))
	}

	mode := c.Dataplane.Mode
	if mode == "off" {
		log.Info("kernel guard off (dataplane.mode: off); L7 limits only")
		report(nil, false)
		return dataplane.Noop{}, nil
	}
	if len(c.Dataplane.Guard.Interfaces) == 0 {
		if mode == "on" {
			report(nil, false)
			return nil, errors.New("dataplane: mode on needs at least one interface in dataplane.guard.interfaces")
		}
		log.Info("kernel guard not started: dataplane.guard.interfaces is empty; L7 limits only")
		report(nil, false)
		return dataplane.Noop{}, nil
	}

	opts := dataplane.Options{
		Root:       os.Getenv(dataplaneRootEnv),
		Hook:       dataplane.Hook(c.Dataplane.Guard.Hook),
		Interfaces: c.Dataplane.Guard.Interfaces,
		Logger:     log,
	}
	g, err := dataplane.New(opts)
	if err != nil {
		caps := dataplane.Probe()
		report(&caps, false)
		if mode == "auto" && dataplane.Unavailable(err) {
			log.Warn("kernel guard unavailable; serving with L7 limits only", "err", err.Error(), "kernel", caps.String())
			return dataplane.Noop{}, nil
		}
		return nil, err
	}
	if err := g.Sync(desiredFromConfig(c)); err != nil {
		g.Close()
		return nil, err
	}
	var warned atomic.Bool
	collector := g.Collector(func(err error) {
		if warned.CompareAndSwap(false, true) {
			log.Warn("kernel counters unreadable; the scrape carries no weir_dataplane_* counters", "err", err.Error())
			return
		}
		log.Debug("kernel counters unreadable", "err", err.Error())
	})
	if _, err := register(reg, collector, true); err != nil {
		g.Close()
		return nil, err
	}
	caps := g.Capabilities()
	report(&caps, true)
	attached := g.Attachments()
	for _, a := range attached {
		log.Info("kernel guard running", "interface", a.Interface, "kind", a.Kind, "link_id", a.LinkID, "taken_over", a.Reused, "pins", g.Root())
	}
	return g, nil
}

// register adds col to reg and returns the collector in use. When an earlier
// start in this process registered the same metrics, replace swaps in col
// (its maps are the live ones); otherwise the earlier collector is kept.
func register(reg prometheus.Registerer, col prometheus.Collector, replace bool) (prometheus.Collector, error) {
	if reg == nil {
		return col, nil
	}
	err := reg.Register(col)
	var already prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return col, nil
	case !errors.As(err, &already):
		return nil, fmt.Errorf("dataplane metrics: %w", err)
	case !replace:
		return already.ExistingCollector, nil
	}
	reg.Unregister(already.ExistingCollector)
	if err := reg.Register(col); err != nil {
		return nil, fmt.Errorf("dataplane metrics: %w", err)
	}
	return col, nil
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
