package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/config"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote"
	"github.com/virtxend/virtxend/daemon/store"
)

// objectSource is where the controllers' objects come from: the local branch of the wiring (the object store
// fed by the defines and the drop-in directory) or the fleet branch (a manager's cache of the API server). Both
// feed the one Setup of the controllers.
type objectSource struct {
	// events are the object changes the reconciler watches.
	events source.TypedSource[reconcile.Request]
	// client reads and writes the objects (the reconciler, the Adopter, the Autostarter, the facade).
	client client.WithWatch
	// loaded are closed once the objects are known: the Adopter and the Autostarter wait for them, since an
	// object not loaded yet is not an absent one.
	loaded []<-chan struct{}
	// ready are closed when the daemon may report itself ready (with the first full observation).
	ready []<-chan struct{}
	// run starts the source's own work under g.
	run func(ctx context.Context, g *errgroup.Group)
	// fleet is set in fleet mode.
	fleet bool
}

// localSource is the local branch: the store, with the defines loaded first and then the drop-in directory.
func (d *Daemon) localSource() *objectSource {
	definesLoaded := make(chan struct{})
	return &objectSource{
		events: store.Kind(d.Store, &v1alpha1.XenDomain{}, nil, controllers.Predicate()),
		client: d.Store,
		loaded: []<-chan struct{}{definesLoaded, d.Specs.Synced()},
		ready:  []<-chan struct{}{definesLoaded, d.Specs.Synced()},
		run: func(ctx context.Context, g *errgroup.Group) {
			g.Go(func() error {
				if err := d.Defines.Load(ctx, d.Store); err != nil {
					d.Log.Error(err, "load persistent definitions")
				}
				close(definesLoaded)
				return nil
			})
			g.Go(func() error {
				<-definesLoaded // a name defined in both places goes to the define, as at every later rescan
				return d.Specs.Run(ctx)
			})
		},
	}
}

// Fleet is fleet mode's connection to the API server: a controller-runtime manager whose cache holds only the
// XenDomain objects of this node, filtered by the API server (the CRD's selectable field spec.nodeName), for
// list and watch alike.
type Fleet struct {
	// Node is this host's name in the fleet.
	Node string
	// Manager runs the cache and the event recorder.
	Manager manager.Manager
	// Client reads from the cache and writes to the API server; its watches go to the API server.
	Client client.WithWatch

	informer cache.Informer
	synced   chan struct{}
}

// openFleet connects the manager to fleet_kubeconfig; nothing reaches the API server before Start.
func openFleet(cfg *config.Daemon, scheme *runtime.Scheme, d *Daemon) (*Fleet, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.FleetKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("fleet_kubeconfig %s: %w", cfg.FleetKubeconfig, err)
	}
	rc.QPS, rc.Burst = float32(cfg.FleetQPS), cfg.FleetBurst
	rc.UserAgent = "virtxend"
	node := cfg.FleetNodeName
	if node == "" {
		if node, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("fleet_node_name: the host name: %w", err)
		}
	}
	mine := cache.ByObject{Field: fields.OneTermEqualSelector("spec.nodeName", node)}
	if cfg.FleetNamespace != "" {
		mine.Namespaces = map[string]cache.Config{cfg.FleetNamespace: {}}
	}
	// A fixed mapping of the one kind the daemon reads: discovery would need the API server before anything
	// starts, and a host must start (and serve virsh) while the API server is away.
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{v1alpha1.GroupVersion})
	mapper.Add(v1alpha1.GroupVersion.WithKind("XenDomain"), meta.RESTScopeNamespace)
	mgr, err := ctrl.NewManager(rc, ctrl.Options{
		Scheme:         scheme,
		MapperProvider: func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return mapper, nil },
		Logger:         d.Log.WithName("fleet"),
		Cache:          cache.Options{ByObject: map[client.Object]cache.ByObject{&v1alpha1.XenDomain{}: mine}},
		// The daemon serves its own metrics (metrics_listen); the manager serves nothing.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	ctx := context.Background()
	if err := remote.IndexDomainNames(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, fmt.Errorf("fleet: index domain names: %w", err)
	}
	inf, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.XenDomain{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("fleet: informer: %w", err)
	}
	direct, err := client.NewWithWatch(rc, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return &Fleet{
		Node: node, Manager: mgr, informer: inf, synced: make(chan struct{}),
		Client: watchingClient{Client: mgr.GetClient(), watcher: direct},
	}, nil
}

// Synced is closed once the cache has listed this node's objects.
func (f *Fleet) Synced() <-chan struct{} { return f.synced }

// source is the fleet branch of the wiring.
func (f *Fleet) source(d *Daemon) *objectSource {
	observed := make(chan struct{})
	close(observed)
	return &objectSource{
		events: source.Kind(f.Manager.GetCache(), &v1alpha1.XenDomain{},
			&handler.TypedEnqueueRequestForObject[*v1alpha1.XenDomain]{}, controllers.Predicate()),
		client: f.Client,
		loaded: []<-chan struct{}{f.synced},
		// Ready does not wait for the API server: a host restarted while it is away serves virsh at once, with
		// its running domains listed from what the hypervisor holds.
		ready: []<-chan struct{}{observed},
		fleet: true,
		run: func(ctx context.Context, g *errgroup.Group) {
			g.Go(func() error { return f.Manager.Start(ctx) })
			g.Go(func() error {
				// The informer retries its list and watch with backoff for as long as the API server is away.
				if f.Manager.GetCache().WaitForCacheSync(ctx) {
					d.Log.Info("fleet: objects of this node listed", "node", f.Node)
					close(f.synced)
				}
				return nil
			})
		},
	}
}

// hasSynced reports whether the cache has listed this node's objects.
func (f *Fleet) hasSynced() bool {
	return f.informer.HasSynced()
}

// Objects is the facade's reader of the cache: until the first list it holds nothing, and reading would block,
// so it answers with no objects and virsh lists the running domains from what the hypervisor holds.
func (f *Fleet) Objects() remote.DomainReader {
	return syncedReader{f: f, r: remote.CachedObjects(f.Manager.GetCache())}
}

type syncedReader struct {
	f *Fleet
	r remote.DomainReader
}

func (s syncedReader) Domains(ctx context.Context) ([]*v1alpha1.XenDomain, error) {
	if !s.f.hasSynced() {
		return nil, nil
	}
	return s.r.Domains(ctx)
}

func (s syncedReader) DomainByName(ctx context.Context, name string) (*v1alpha1.XenDomain, error) {
	if !s.f.hasSynced() {
		return nil, nil
	}
	return s.r.DomainByName(ctx, name)
}

// watchingClient is the manager's client (reads from the cache, writes to the API server) with watches opened on
// the API server: the facade watches one object while it waits for the reconciler's outcome.
type watchingClient struct {
	client.Client
	watcher client.WithWatch
}

func (c watchingClient) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	return c.watcher.Watch(ctx, list, opts...)
}
