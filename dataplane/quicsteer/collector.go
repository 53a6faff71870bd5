package quicsteer

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Reader reads the steering counters (*Program implements it).
type Reader interface {
	Counters() (Counters, error)
}

var _ Reader = (*Program)(nil)

// Collector exports the steering counters at scrape time. When they cannot
// be read it emits nothing for that scrape rather than partial data.
type Collector struct {
	r         Reader
	onError   func(error)
	steered   *prometheus.Desc
	fallbacks *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over r, its series carrying labels (may
// be nil; e.g. the listener when several groups are steered); onError (may
// be nil) is told about failed scrapes.
func NewCollector(r Reader, labels prometheus.Labels, onError func(error)) *Collector {
	return &Collector{
		r:       r,
		onError: onError,
		steered: prometheus.NewDesc("weir_quic_packets_steered_total",
			"QUIC datagrams the kernel sent to the worker socket owning their connection ID, by worker slot.", []string{"slot"}, labels),
		fallbacks: prometheus.NewDesc("weir_quic_steer_fallbacks_total",
			"QUIC datagrams left to the kernel's 4-tuple hash, by reason.", []string{"reason"}, labels),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.steered
	ch <- c.fallbacks
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	cs, err := c.r.Counters()
	if err != nil {
		if c.onError != nil {
			c.onError(err)
		}
		return
	}
	for slot, v := range cs.Steered {
		ch <- prometheus.MustNewConstMetric(c.steered, prometheus.CounterValue, float64(v), strconv.Itoa(slot))
	}
	for why, v := range cs.Fallbacks {
		ch <- prometheus.MustNewConstMetric(c.fallbacks, prometheus.CounterValue, float64(v), Fallback(why).String())
	}
}
