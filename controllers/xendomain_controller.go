package controllers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// Finalizer keeps a XenDomain object until its domain has been shut down.
const Finalizer = "virtxend.io/domain"

// ConfigBuilder turns a domain definition into the libxl configuration to start it with (libxl.Build with the
// host's facts, in the daemon). With reserve it takes what the domain needs on the host (graphics ports);
// without, it describes a domain that already runs and holds them.
type ConfigBuilder func(spec *v1alpha1.DomainSpec, reserve bool) (Built, error)

// Built is what a ConfigBuilder makes of a definition.
type Built struct {
	// Config is the libxl configuration.
	Config *libxl.DomainConfig
	// Spec is the definition as a start makes it (libvirt's changes at start: memory rounded to MiB, ports
	// allocated, defaults made explicit): the live definition of a domain started from it.
	Spec *v1alpha1.DomainSpec
	// Release gives back what the build reserved on the host: the reconciler calls it at once when it does not
	// start the domain, and when the domain it started is gone. Nil when nothing was reserved.
	Release func()
}

// Options tune the reconciler. Zero values take the defaults noted.
type Options struct {
	// ShutdownTimeout bounds a graceful shutdown (object deletion, runStrategy Halted) before destroy. 30 s.
	ShutdownTimeout time.Duration
	// BackoffBase and BackoffMax shape crash-loop backoff: no delay for the first restart, then BackoffBase
	// doubling up to BackoffMax. 1 s and 5 min.
	BackoffBase, BackoffMax time.Duration
	// StablePeriod is how long a domain must run before its restart count resets. 60 s.
	StablePeriod time.Duration
	// DumpDir receives core dumps of coredump-* lifecycle actions.
	DumpDir string
	// ManagedSaveDir holds managed save images (NAME.save): a domain that has one is restored from it, whatever
	// starts it (an action, autostart, a run strategy), and the image is removed once restored, as libvirt does.
	ManagedSaveDir string
	// MaxConcurrentReconciles is the number of domains reconciled at once. 16.
	MaxConcurrentReconciles int
	// Now is the clock (tests).
	Now func() time.Time
	// Node is this host's node name in fleet mode, where the finalizer holds an object only while its domain
	// exists on this host (fleethold.go); empty in local mode.
	Node string
}

func (o *Options) defaults() {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.StablePeriod <= 0 {
		o.StablePeriod = time.Minute
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// XenDomainReconciler drives each domain towards its XenDomain object.
type XenDomainReconciler struct {
	Client   client.Client
	HV       libxl.Hypervisor
	Observer *Observer
	Build    ConfigBuilder
	Events   *EventLog
	// Live keeps the live definitions of the running domains; the reconciler is its only writer.
	Live LiveStore
	// Locks orders the reconciler's cleanup of a domain with the facade's calls on it; none when nil.
	Locks DomainLocker
	// Migrations are the migrations in flight: the streams the facade opened and their journal; none when nil.
	Migrations *Migrations
	Opts       Options

	mu sync.Mutex
	// names and runtime are keyed by domain UUID (XenDomain.DomainUUID), the domain's identity.
	names   map[string]types.NamespacedName
	runtime map[string]*runtimeState
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending []reconcile.Request
	// autostartSem bounds how many autostarted domains are created at once.
	autostartSem chan struct{}

	// Reconciles counts Reconcile calls (benchmarks report reconciles per domain).
	Reconciles atomic.Int64
	// Metrics receives reconcile outcomes, drift and crash restarts for the metrics endpoint; nil: none.
	Metrics Metrics
}

// runtimeState is what the reconciler remembers of a domain between reconciles in this process.
type runtimeState struct {
	shutdownSent time.Time   // graceful stop requested (deletion, Halted)
	autostart    atomic.Bool // start once: autostart at this host boot (set by the Autostarter)
	release      func()      // gives back the host resources the running domain's config reserved
	// supersededRV is the resourceVersion this process last replaced with a status write. A cache (fleet mode)
	// may still hand it out for a moment: a reconcile of that version would act on a view older than its own
	// last outcome (an action already answered, say), so it waits for the cache instead. supersededPrev is the
	// one before: a start in fleet mode writes twice (the hold, then the status), and a loaded API server's
	// watch may still deliver the version read before both.
	supersededRV, supersededPrev string
}

// supersede records rv as replaced by this process's write; the caller holds the reconciler's mu.
func (rt *runtimeState) supersede(rv string) {
	if rv != rt.supersededRV {
		rt.supersededPrev, rt.supersededRV = rt.supersededRV, rv
	}
}

func (rt *runtimeState) releaseHeld() {
	if rt.release != nil {
		rt.release()
		rt.release = nil
	}
}

// Reconcile drives one domain one step towards its spec.
func (r *XenDomainReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res ctrl.Result, err error) {
	r.Reconciles.Add(1)
	obj := &v1alpha1.XenDomain{}
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Observer.IsSynced() {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil // unknown is not absent
	}
	if r.superseded(obj) {
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil // the cache lags behind our own write
	}
	s := r.newScope(ctx, obj)
	defer func() {
		if s.release != nil {
			s.release()
		}
		res, err = r.patchStatus(ctx, s, res, err)
		if err == nil {
			res = r.unhold(ctx, s, res) // fleet mode: a shut-off domain's object may move on
		}
		r.metrics().Reconciled(s.obj, outcome(res.Requeue || res.RequeueAfter > 0, err))
	}()

	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	for _, phase := range []phase{
		r.reconcileFinalizer, // the object cannot vanish before its domain is down
		r.reconcileConfig,    // spec → libxl config; an invalid spec stops here
		r.reconcileMigration, // migration actions; a domain mid-migration or migrated away is left alone
		r.reconcileShutdown,  // a guest that shut down: on_poweroff / on_reboot / on_crash
		r.reconcileAction,    // a pending one-shot action (virsh start, shutdown, destroy...)
		r.reconcileConfigErr, // an invalid spec stops here, once its action is answered
		r.reconcileRunState,  // runStrategy: start or stop
		r.reconcileLive,      // the live definition: spec changes of declarative sources, drift, paused
		r.reconcileTransient, // a stopped transient domain is forgotten
	} {
		if err := phase(ctx, s); err != nil || s.done {
			return s.result(), err
		}
	}
	return s.result(), nil
}

// phase is one ordered step of Reconcile; it sets s.done to end the reconcile early.
type phase func(ctx context.Context, s *scope) error

// scope is one reconcile's view: the object, its domain as observed, and the built config.
type scope struct {
	obj  *v1alpha1.XenDomain
	orig v1alpha1.XenDomainStatus
	dom  *Observed
	cfg  *libxl.DomainConfig
	// liveCfg is built from the live definition when a live change hot-plugged devices: the marker records them.
	liveCfg *libxl.DomainConfig
	// spec is the object's definition with its name and UUID filled in; built is what a start makes of it.
	spec, built *v1alpha1.DomainSpec
	// live is the live definition of the running domain (nil while it does not run).
	live    *LiveDefinition
	release func() // gives back what building cfg reserved, unless a started domain now holds it
	// cfgErr is why the spec does not build (terminal); cfg is nil then. Actions that need no config still run.
	cfgErr error
	// restartFields are the spec fields that wait for the next start.
	restartFields []string
	rt            *runtimeState
	log           logr.Logger
	now           time.Time
	requeue       time.Duration
	done          bool
	// stopReason is the libvirt shutoff reason to report when the domain is absent.
	stopReason string
	drift      []string
	// started is set when this reconcile created the domain.
	started bool
}

func (s *scope) requeueAfter(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

func (s *scope) result() ctrl.Result { return ctrl.Result{RequeueAfter: s.requeue} }

func (r *XenDomainReconciler) newScope(ctx context.Context, obj *v1alpha1.XenDomain) *scope {
	r.mu.Lock()
	if r.names == nil {
		r.names = map[string]types.NamespacedName{}
		r.runtime = map[string]*runtimeState{}
	}
	if r.Live == nil {
		r.Live = NewMemLiveStore()
	}
	id := obj.DomainUUID()
	r.names[id] = client.ObjectKeyFromObject(obj)
	rt := r.runtime[id]
	if rt == nil {
		rt = &runtimeState{}
		r.runtime[id] = rt
	}
	r.mu.Unlock()
	dom := r.Observer.Lookup(id)
	if dom == nil {
		rt.releaseHeld() // the domain is gone, however it went
	}
	if dom == nil && r.Observer.IsSynced() {
		r.dropLive(ctx, obj.DomainUUID())
	}
	return &scope{
		obj:  obj,
		orig: *obj.Status.DeepCopy(),
		dom:  dom,
		rt:   rt,
		log:  ctrl.LoggerFrom(ctx).WithValues("domain", obj.DomainName(), "uid", obj.UID),
		now:  r.Opts.Now(),
	}
}

// patchStatus derives the status from what the reconcile saw and did, and writes it when it changed.
func (r *XenDomainReconciler) patchStatus(ctx context.Context, s *scope, res ctrl.Result, rerr error) (ctrl.Result, error) {
	if !s.obj.DeletionTimestamp.IsZero() && !hasFinalizer(s.obj) {
		return res, rerr // the object is gone
	}
	r.computeStatus(s, rerr)
	if v1alpha1.SemanticEqual(&s.orig, &s.obj.Status) {
		return res, rerr
	}
	readRV := s.obj.ResourceVersion
	err := r.Client.Status().Update(ctx, s.obj)
	if err == nil {
		r.mu.Lock()
		s.rt.supersede(readRV)
		r.mu.Unlock()
	}
	if apierrors.IsConflict(err) {
		// Someone else wrote the object meanwhile (a spec edit, or this reconcile deleting a transient domain).
		// The reconciler is the only writer of status: put this status on the latest version.
		latest := &v1alpha1.XenDomain{}
		if gerr := r.Client.Get(ctx, client.ObjectKeyFromObject(s.obj), latest); gerr == nil {
			latest.Status = s.obj.Status
			err = r.Client.Status().Update(ctx, latest)
			if err == nil && latest.Generation != s.obj.Generation {
				return ctrl.Result{Requeue: true}, rerr // the spec moved on: look again
			}
		} else {
			err = gerr
		}
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return res, rerr
		}
		if apierrors.IsConflict(err) && rerr == nil {
			return ctrl.Result{Requeue: true}, nil
		}
		return res, errors.Join(rerr, err)
	}
	return res, rerr
}

// Setup builds the controller, the same in both modes: it watches objects through src (the local object store's
// watch, store.Kind, in local mode; the manager's node-filtered cache, source.Kind, in fleet mode) and the
// hypervisor through the Observer. It is an unmanaged controller either way, so that the daemon decides when it
// starts (after the cache syncs, which may be long after start-up while the API server is away). Start the
// returned controller with its Start method.
func (r *XenDomainReconciler) Setup(src source.TypedSource[reconcile.Request], log logr.Logger) (controller.TypedController[reconcile.Request], error) {
	r.Opts.defaults()
	if r.Live == nil {
		r.Live = NewMemLiveStore()
	}
	skip := true
	c, err := controller.NewTypedUnmanaged("xendomain", controller.TypedOptions[reconcile.Request]{
		Reconciler:              r,
		MaxConcurrentReconciles: r.Opts.MaxConcurrentReconciles,
		SkipNameValidation:      &skip,
		Logger:                  log,
	})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(src); err != nil {
		return nil, err
	}
	r.Observer.Notify = r.enqueueUUID
	if err := c.Watch(source.TypedFunc[reconcile.Request](r.setQueue)); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *XenDomainReconciler) setQueue(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = q
	for _, req := range r.pending {
		q.Add(req)
	}
	r.pending = nil
	return nil
}

// superseded reports whether obj is a version this process has already replaced with a status write.
func (r *XenDomainReconciler) superseded(obj *v1alpha1.XenDomain) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt := r.runtime[obj.DomainUUID()]
	return rt != nil && obj.ResourceVersion != "" && (rt.supersededRV == obj.ResourceVersion || rt.supersededPrev == obj.ResourceVersion)
}

// enqueueUUID queues the object whose domain UUID is uuid, when it is known.
func (r *XenDomainReconciler) enqueueUUID(uuid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	nn, ok := r.names[uuid]
	if !ok {
		return // not reconciled yet: its first reconcile will look
	}
	req := reconcile.Request{NamespacedName: nn}
	if r.queue == nil {
		r.pending = append(r.pending, req)
		return
	}
	r.queue.Add(req)
}

func (r *XenDomainReconciler) forget(uuid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.names, uuid)
	delete(r.runtime, uuid)
}

// Predicate lets through the object changes the reconciler acts on: creation, deletion, a new generation
// (spec), changed annotations (a source error) or labels, and the start of a graceful deletion. Status and
// finalizer writes, the reconciler's own, are filtered out.
func Predicate() predicate.TypedPredicate[*v1alpha1.XenDomain] {
	return predicate.TypedFuncs[*v1alpha1.XenDomain]{
		UpdateFunc: func(e event.TypedUpdateEvent[*v1alpha1.XenDomain]) bool {
			o, n := e.ObjectOld, e.ObjectNew
			return o.Generation != n.Generation ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() ||
				!equality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
				!equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
				o.Status.NodeName != "" && n.Status.NodeName == "" // released by the node that held it (fleet mode)
		},
	}
}
