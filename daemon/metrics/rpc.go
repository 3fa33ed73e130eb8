package metrics

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// RPC counts the RPC servers' finished calls and their connected clients. CallFinished is the hook the RPC
// server calls once per answered call; the clients are counted from the servers at each scrape.
type RPC struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	servers  []*rpc.Server
	clients  *prometheus.Desc
}

// NewRPC returns the RPC metrics of servers (the REMOTE and ADMIN servers).
func NewRPC(servers ...*rpc.Server) *RPC {
	return &RPC{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "virtxend_rpc_calls_total",
			Help: "RPC calls answered, by server, procedure and libvirt error code (0: success)."},
			[]string{"server", "procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "virtxend_rpc_call_duration_seconds",
			Help:    "Time from reading an RPC call to queueing its answer, by server.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30}}, []string{"server"}),
		servers: servers,
		clients: desc("virtxend_rpc_clients", "Connected RPC clients, by server and socket.", "server", "socket"),
	}
}

// CallFinished counts one answered call: server is the server's name ("virtxend", "admin"), procedure the
// procedure's name (REMOTE_PROC_DOMAIN_CREATE...), code the libvirt error code (0 for success). Calls of
// procedures the server does not know count under procedure "unknown": their numbers come from the client,
// and a series per number would let any client grow the endpoint without bound.
func (r *RPC) CallFinished(server, procedure string, code int, elapsed time.Duration) {
	if !strings.Contains(procedure, "_PROC_") {
		procedure = "unknown"
	}
	r.calls.WithLabelValues(server, procedure, strconv.Itoa(code)).Inc()
	r.duration.WithLabelValues(server).Observe(elapsed.Seconds())
}

// Describe sends every family's description.
func (r *RPC) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(r, ch) }

// Collect sends the call counters and the clients connected now, by the socket they connected to
// (virtxend-sock, virtxend-sock-ro, virtxend-admin-sock).
func (r *RPC) Collect(ch chan<- prometheus.Metric) {
	r.calls.Collect(ch)
	r.duration.Collect(ch)
	type key struct{ server, socket string }
	n := map[key]int{}
	for _, s := range r.servers {
		for _, c := range s.Clients() {
			i := c.Info()
			n[key{s.Name(), filepath.Base(i.LocalAddr)}]++
		}
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(r.clients, prometheus.GaugeValue, float64(v), k.server, k.socket)
	}
}
