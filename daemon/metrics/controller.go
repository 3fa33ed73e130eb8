package metrics

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/store"
)

var _ controllers.Metrics = (*Controller)(nil)

// Controller counts what the reconciler does (it is the reconciler's controllers.Metrics) and exports the
// domains' desired-state view from the store: by state, by condition, restarts and backoff.
type Controller struct {
	store *store.Store
	now   func() time.Time

	reconciles *prometheus.CounterVec
	drift      *prometheus.CounterVec
	restarts   prometheus.Counter
	backoffs   prometheus.Counter
	backoffSec prometheus.Counter
	applied    prometheus.Histogram

	mu sync.Mutex
	// pending are the generations seen but not yet applied, by object, with when the reconciler first saw them.
	pending map[types.UID]pendingGen

	states, condCount, cond, restartCount, backoffLeft *prometheus.Desc
}

type pendingGen struct {
	gen   int64
	since time.Time
}

// NewController returns the reconciler's metrics over the objects of st.
func NewController(st *store.Store) *Controller {
	c := &Controller{
		store: st, now: time.Now, pending: map[types.UID]pendingGen{},
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "virtxend_reconcile_total",
			Help: "Reconciles of XenDomain objects by outcome (success, requeue, error)."}, []string{"outcome"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "virtxend_drift_total",
			Help: "Reconciles that found a running domain departing from its live definition, by action " +
				"(corrected: put back under driftPolicy Enforce; reported: left as is under Report)."}, []string{"action"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "virtxend_crash_restarts_total",
			Help: "Restarts of domains that stopped or crashed unrequested."}),
		backoffs: prometheus.NewCounter(prometheus.CounterOpts{Name: "virtxend_crash_backoffs_total",
			Help: "Restarts of crash-looping domains delayed by the backoff."}),
		backoffSec: prometheus.NewCounter(prometheus.CounterOpts{Name: "virtxend_crash_backoff_seconds_total",
			Help: "Total restart delay imposed on crash-looping domains, in seconds."}),
		applied: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "virtxend_spec_apply_duration_seconds",
			Help: "Time from the reconciler first seeing a new generation of a domain's spec to its status " +
				"reporting it observed and no longer progressing.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		states: desc("virtxend_domains", "Domains with an object, by libvirt state (status.state).", "state"),
		condCount: desc("virtxend_domains_condition", "Domains by condition type and status.",
			"type", "status"),
		cond: desc("virtxend_domain_condition", "A domain's condition: 1 when True, 0 when False.",
			"domain", "uuid", "type", "reason"),
		restartCount: desc("virtxend_domain_restarts", "Restarts of a domain after unrequested stops in a row (status.restartCount).",
			"domain", "uuid"),
		backoffLeft: desc("virtxend_domain_backoff_seconds", "Time until a crash-looping domain may restart, in seconds (0: none).",
			"domain", "uuid"),
	}
	return c.init()
}

// init makes every outcome's and action's series exist from the start, so that rates and alerts see 0 rather
// than nothing.
func (c *Controller) init() *Controller {
	for _, o := range []string{"success", "requeue", "error"} {
		c.reconciles.WithLabelValues(o)
	}
	for _, a := range []string{"corrected", "reported"} {
		c.drift.WithLabelValues(a)
	}
	return c
}

// Reconciled counts a reconcile and tracks when spec generations get applied.
func (c *Controller) Reconciled(obj *v1alpha1.XenDomain, outcome string) {
	c.reconciles.WithLabelValues(outcome).Inc()
	if obj == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !obj.DeletionTimestamp.IsZero() {
		delete(c.pending, obj.UID)
		return
	}
	p, ok := c.pending[obj.UID]
	applied := obj.Status.ObservedGeneration >= obj.Generation &&
		!meta.IsStatusConditionTrue(obj.Status.Conditions, v1alpha1.ConditionProgressing)
	switch {
	case applied && ok:
		c.applied.Observe(c.now().Sub(p.since).Seconds())
		delete(c.pending, obj.UID)
	case !applied && (!ok || p.gen != obj.Generation):
		since := c.now()
		if ok {
			since = p.since // a newer generation before the older was applied: the wait goes on
		}
		c.pending[obj.UID] = pendingGen{gen: obj.Generation, since: since}
	}
}

// DriftDetected counts a drift.
func (c *Controller) DriftDetected(corrected bool) {
	c.drift.WithLabelValues(map[bool]string{true: "corrected", false: "reported"}[corrected]).Inc()
}

// CrashRestart counts a restart after an unrequested stop.
func (c *Controller) CrashRestart() { c.restarts.Inc() }

// BackoffDelayed counts a delayed restart.
func (c *Controller) BackoffDelayed(d time.Duration) {
	c.backoffs.Inc()
	c.backoffSec.Add(d.Seconds())
}

// Describe sends every family's description.
func (c *Controller) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

// Collect sends the counters and the store's view of the domains.
func (c *Controller) Collect(ch chan<- prometheus.Metric) {
	c.reconciles.Collect(ch)
	c.drift.Collect(ch)
	c.restarts.Collect(ch)
	c.backoffs.Collect(ch)
	c.backoffSec.Collect(ch)
	c.applied.Collect(ch)
	objs, err := store.SharedList[*v1alpha1.XenDomain](c.store, v1alpha1.LocalNamespace)
	if err != nil {
		return
	}
	states := map[string]int{}
	type tc struct{ typ, status string }
	conds := map[tc]int{}
	now := c.now()
	for _, o := range objs {
		state := string(o.Status.State)
		if state == "" {
			state = "unknown"
		}
		states[state]++
		name, uuid := o.Spec.Domain.Name, o.Spec.Domain.UUID
		if name == "" {
			name = o.Name
		}
		for _, cd := range o.Status.Conditions {
			conds[tc{cd.Type, string(cd.Status)}]++
			if cd.Status == metav1.ConditionUnknown {
				continue
			}
			v := 0.0
			if cd.Status == metav1.ConditionTrue {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.cond, prometheus.GaugeValue, v, name, uuid, cd.Type, cd.Reason)
		}
		ch <- prometheus.MustNewConstMetric(c.restartCount, prometheus.GaugeValue, float64(o.Status.RestartCount), name, uuid)
		left := 0.0
		if b := o.Status.BackoffUntil; b != nil && b.After(now) {
			left = b.Sub(now).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.backoffLeft, prometheus.GaugeValue, left, name, uuid)
	}
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(n), s)
	}
	for k, n := range conds {
		ch <- prometheus.MustNewConstMetric(c.condCount, prometheus.GaugeValue, float64(n), k.typ, k.status)
	}
}

// Ready returns virtxend_ready: 1 once the daemon is ready (what /readyz and sd_notify report), else 0.
func Ready(ready func() bool) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "virtxend_ready",
		Help: "Whether the daemon is ready: the hypervisor fully observed and the desired state read."},
		func() float64 {
			if ready() {
				return 1
			}
			return 0
		})
}

// BuildInfo returns virtxend_build_info: 1, labelled with the version, the Go version and the VCS revision
// the binary was built from.
func BuildInfo(version string) prometheus.Collector {
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "virtxend_build_info",
		Help:        "A metric with a constant 1, labelled by the version, Go version and revision virtxend was built from.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version(), "revision": revision}})
	g.Set(1)
	return g
}
