package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-gateway/weir/dataplane/quicsteer"
)

// quicCollector exports, at scrape time, what each HTTP/3 worker socket
// received and the kernel steering counters of every listener.
type quicCollector struct {
	s         *Server
	received  *prometheus.Desc
	misrouted *prometheus.Desc
	workers   *prometheus.Desc
}

// QUICCollector returns the collector of the HTTP/3 worker sockets:
// weir_quic_socket_packets_total{listener,slot},
// weir_quic_socket_misrouted_packets_total{listener,slot} (datagrams whose
// CID names another worker: nonzero means steering is off or broken),
// weir_quic_workers{listener,steered}, and the kernel program's
// weir_quic_packets_steered_total{listener,slot} and
// weir_quic_steer_fallbacks_total{listener,reason}. Register it once.
func (s *Server) QUICCollector() prometheus.Collector {
	return &quicCollector{
		s: s,
		received: prometheus.NewDesc("weir_quic_socket_packets_total",
			"UDP datagrams read by each HTTP/3 worker socket.", []string{"listener", "slot"}, nil),
		misrouted: prometheus.NewDesc("weir_quic_socket_misrouted_packets_total",
			"UDP datagrams a worker socket read that carry another worker's connection ID.", []string{"listener", "slot"}, nil),
		workers: prometheus.NewDesc("weir_quic_workers",
			"HTTP/3 worker sockets of a listener, and whether the kernel steers between them.", []string{"listener", "steered"}, nil),
	}
}

// Describe sends nothing: the kernel series depend on what loaded, so the
// collector is unchecked.
func (c *quicCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *quicCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.s.listeners {
		if l.h3 == nil {
			continue
		}
		q := l.h3.conn
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(q.Workers()), l.name, strconv.FormatBool(q.Steered()))
		for i, st := range q.stats {
			slot := strconv.Itoa(i)
			ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(st.Received.Load()), l.name, slot)
			ch <- prometheus.MustNewConstMetric(c.misrouted, prometheus.CounterValue, float64(st.Misrouted.Load()), l.name, slot)
		}
		if q.steer != nil {
			quicsteer.NewCollector(q.steer, prometheus.Labels{"listener": l.name}, nil).Collect(ch)
		}
	}
}
