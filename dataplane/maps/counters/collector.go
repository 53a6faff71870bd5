package counters

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane/maps/tenants"
)

// Names resolves tenant ids to names (tenants.Map implements it).
type Names interface {
	All() (map[tenants.ID]tenants.Tenant, error)
}

// Collector reads the counters at scrape time. When a map cannot be read it
// emits nothing for that scrape (and reports the error) rather than a partial
// set that would look like counter resets.
type Collector struct {
	counters Reader
	names    Names
	onError  func(error)
	packets  *prometheus.Desc
	bytes    *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over counters, labelling tenants through
// names. onError (may be nil) is told about failed scrapes.
func NewCollector(counters Reader, names Names, onError func(error)) *Collector {
	labels := []string{"tenant", "verdict"}
	return &Collector{
		counters: counters,
		names:    names,
		onError:  onError,
		packets: prometheus.NewDesc("weir_dataplane_packets_total",
			"Packets seen by the kernel guard, by tenant and verdict.", labels, nil),
		bytes: prometheus.NewDesc("weir_dataplane_bytes_total",
			"Bytes seen by the kernel guard, by tenant and verdict.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packets
	ch <- c.bytes
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	sums, err := c.counters.Sum()
	if err != nil {
		c.fail(err)
		return
	}
	all, err := c.names.All()
	if err != nil {
		c.fail(err)
		return
	}
	metrics := make([]prometheus.Metric, 0, 2*len(sums))
	for k, v := range sums {
		tenant := Label(k.Tenant, all)
		for _, m := range []struct {
			desc *prometheus.Desc
			val  uint64
		}{{c.packets, v.Packets}, {c.bytes, v.Bytes}} {
			metric, err := prometheus.NewConstMetric(m.desc, prometheus.CounterValue, float64(m.val), tenant, k.Verdict.String())
			if err != nil {
				c.fail(err)
				return
			}
			metrics = append(metrics, metric)
		}
	}
	for _, m := range metrics {
		ch <- m
	}
}

func (c *Collector) fail(err error) {
	if c.onError != nil {
		c.onError(err)
	}
}

// Label is the tenant label of id: its name, tenants.DefaultName for the
// default class, or "id_<n>" for an id without a name (a tenant removed
// between two reads).
func Label(id tenants.ID, all map[tenants.ID]tenants.Tenant) string {
	if t, ok := all[id]; ok && t.Name != "" {
		return t.Name
	}
	if id == tenants.Default {
		return tenants.DefaultName
	}
	return "id_" + strconv.FormatUint(uint64(id), 10)
}
