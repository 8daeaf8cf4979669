package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/raft"
)

// notifyCollector exports the notifiers' outboxes from the replicated
// state: what is pending and what a full outbox dropped.
type notifyCollector struct {
	node    *raft.Node
	pending *prometheus.Desc
	dropped *prometheus.Desc
}

func newNotifyCollector(n *raft.Node) *notifyCollector {
	return &notifyCollector{
		node:    n,
		pending: prometheus.NewDesc("sluice_notifications_outbox", "Notices waiting in a notifier's outbox (replicated).", []string{"notifier"}, nil),
		dropped: prometheus.NewDesc("sluice_notifications_dropped_total", "Notices a notifier's full outbox dropped (replicated).", []string{"notifier"}, nil),
	}
}

func (c *notifyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.dropped
}

func (c *notifyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.State()
	for _, name := range st.NotifierNames() {
		var pending, dropped float64
		if box := st.Outboxes[name]; box != nil {
			pending, dropped = float64(len(box.Pending)), float64(box.Dropped)
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, pending, name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, dropped, name)
	}
}

// notifyAttempts counts this node's delivery attempts while it leads.
type notifyAttempts struct {
	delivered *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

func newNotifyAttempts() *notifyAttempts {
	return &notifyAttempts{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_notifications_delivered_total", Help: "Notices this node delivered while leading, by notifier.",
		}, []string{"notifier"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_notifications_failed_total", Help: "Delivery attempts of this node that failed (they are retried), by notifier.",
		}, []string{"notifier"}),
	}
}

// observe is controller.Options.OnDelivery.
func (a *notifyAttempts) observe(notifier string, err error) {
	if err != nil {
		a.failed.WithLabelValues(notifier).Inc()
		return
	}
	a.delivered.WithLabelValues(notifier).Inc()
}
