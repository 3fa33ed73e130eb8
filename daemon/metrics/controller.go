package metrics

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
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

// Controller counts what the reconciler does (it is the reconciler's controllers.Metrics; the counters are a
// client_golang Collector) and exports the domains' desired-state view from the objects: by state, by
// condition, restarts and backoff (a Section).
type Controller struct {
	objects Objects
	now     func() time.Time

	reconciles *prometheus.CounterVec
	drift      *prometheus.CounterVec
	restarts   prometheus.Counter
	backoffs   prometheus.Counter
	backoffSec prometheus.Counter
	applied    prometheus.Histogram

	mu sync.Mutex
	// pending are the generations seen but not yet applied, by object, with when the reconciler first saw them.
	pending map[types.UID]pendingGen

	// scrapeMu serialises scrapes, apart from mu so that a slow scraper never holds up the reconciler.
	scrapeMu sync.Mutex
	// labels are the objects' rendered label sets, by UID; scrapes counts the scrapes, to drop the gone.
	labels  map[types.UID]*objLabels
	scrapes uint64
}

type pendingGen struct {
	gen   int64
	since time.Time
}

// Objects lists the XenDomain objects the daemon reconciles, shared and read-only: the local store's (StoreObjects),
// or in fleet mode those of this node in the manager's cache.
type Objects func(ctx context.Context) ([]*v1alpha1.XenDomain, error)

// StoreObjects lists the local store's objects.
func StoreObjects(st *store.Store) Objects {
	return func(context.Context) ([]*v1alpha1.XenDomain, error) {
		return store.SharedList[*v1alpha1.XenDomain](st, v1alpha1.LocalNamespace)
	}
}

// NewController returns the reconciler's metrics over objs.
func NewController(objs Objects) *Controller {
	c := &Controller{
		objects: objs, now: time.Now, pending: map[types.UID]pendingGen{}, labels: map[types.UID]*objLabels{},
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

// Collect sends the counters; the store's view of the domains is the Section part (WriteText).
func (c *Controller) Collect(ch chan<- prometheus.Metric) {
	c.reconciles.Collect(ch)
	c.drift.Collect(ch)
	c.restarts.Collect(ch)
	c.backoffs.Collect(ch)
	c.backoffSec.Collect(ch)
	c.applied.Collect(ch)
}

// objLabels are an object's rendered label sets, kept while the object (UID, name, uuid) lives.
type objLabels struct {
	name, uuid string
	base       string
	// conds are `domain,reason,type,uuid` label sets by condition type and reason.
	conds map[[2]string]string
	seen  uint64
}

func (l *objLabels) cond(typ, reason string) string {
	k := [2]string{typ, reason}
	if s, ok := l.conds[k]; ok {
		return s
	}
	s := labelSet("domain", l.name, "reason", reason, "type", typ, "uuid", l.uuid)
	l.conds[k] = s
	return s
}

// WriteText writes the store's view of the domains: by state, by condition, and each one's conditions,
// restarts and backoff. Written as a Section for the reason DomainCollector is: a thousand objects make
// six thousand series.
func (c *Controller) WriteText(ctx context.Context, t *TextWriter) error {
	objs, err := c.objects(ctx)
	if err != nil {
		return fmt.Errorf("list domains for metrics: %w", err)
	}
	c.scrapeMu.Lock()
	defer c.scrapeMu.Unlock()
	c.scrapes++
	states := map[string]int{}
	type tc struct{ typ, status string }
	conds := map[tc]int{}
	now := c.now()
	labels := make([]*objLabels, len(objs))
	for i, o := range objs {
		state := string(o.Status.State)
		if state == "" {
			state = "unknown"
		}
		states[state]++
		for _, cd := range o.Status.Conditions {
			conds[tc{cd.Type, string(cd.Status)}]++
		}
		name, uuid := o.DomainName(), o.DomainUUID() // the labels the libvirt_domain_* families carry
		l := c.labels[o.UID]
		if l == nil || l.name != name || l.uuid != uuid {
			l = &objLabels{name: name, uuid: uuid, base: labelSet("domain", name, "uuid", uuid), conds: map[[2]string]string{}}
			c.labels[o.UID] = l
		}
		l.seen = c.scrapes
		labels[i] = l
	}
	for uid, l := range c.labels {
		if l.seen != c.scrapes {
			delete(c.labels, uid)
		}
	}
	t.Family("virtxend_domains", "Domains with an object, by libvirt state (status.state).", "gauge")
	for _, s := range slices.Sorted(maps.Keys(states)) {
		t.Sample(labelSet("state", s), float64(states[s]))
	}
	t.Family("virtxend_domains_condition", "Domains by condition type and status.", "gauge")
	keys := slices.SortedFunc(maps.Keys(conds), func(a, b tc) int {
		return cmp.Or(cmp.Compare(a.status, b.status), cmp.Compare(a.typ, b.typ))
	})
	for _, k := range keys {
		t.Sample(labelSet("status", k.status, "type", k.typ), float64(conds[k]))
	}
	t.Family("virtxend_domain_condition", "A domain's condition: 1 when True, 0 when False.", "gauge")
	for i, o := range objs {
		for _, cd := range o.Status.Conditions {
			if cd.Status == metav1.ConditionUnknown {
				continue
			}
			v := 0.0
			if cd.Status == metav1.ConditionTrue {
				v = 1
			}
			t.Sample(labels[i].cond(cd.Type, cd.Reason), v)
		}
	}
	t.Family("virtxend_domain_restarts", "Restarts of a domain after unrequested stops in a row (status.restartCount).", "gauge")
	for i, o := range objs {
		t.Sample(labels[i].base, float64(o.Status.RestartCount))
	}
	t.Family("virtxend_domain_backoff_seconds", "Time until a crash-looping domain may restart, in seconds (0: none).", "gauge")
	for i, o := range objs {
		left := 0.0
		if b := o.Status.BackoffUntil; b != nil && b.After(now) {
			left = b.Sub(now).Seconds()
		}
		t.Sample(labels[i].base, left)
	}
	return nil
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
