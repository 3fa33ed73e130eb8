package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	sdaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/config"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/admin"
	"github.com/virtxend/virtxend/daemon/defines"
	"github.com/virtxend/virtxend/daemon/domlock"
	"github.com/virtxend/virtxend/daemon/livedefs"
	"github.com/virtxend/virtxend/daemon/metrics"
	"github.com/virtxend/virtxend/daemon/remote"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/daemon/remote/secondary"
	"github.com/virtxend/virtxend/daemon/specdir"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
)

// DefaultPidFile is where a root virtxend writes its pid when -p is not given.
const DefaultPidFile = "/run/virtxend.pid"

// Options are what the command line decides.
type Options struct {
	// ConfigFile is virtxend.conf; empty means config.DefaultDaemonPath, which may be missing.
	ConfigFile string
	// PidFile is the pid file; empty means DefaultPidFile.
	PidFile string
	// Timeout ends the daemon after that long with no client and no domain it must keep running (0: never).
	Timeout time.Duration
	// Verbose logs at debug level.
	Verbose bool
	// Stderr receives the log (os.Stderr when nil).
	Stderr io.Writer
	// Ready, when set, is called once: with nil when the daemon serves (pid file taken, sockets open, first full
	// observation done), or with the error that stopped it before. -d uses it to let the parent exit.
	Ready func(error)
}

// Daemon is a running virtxend: the parts Run wires together, kept for tests and the RPC facade.
type Daemon struct {
	Config     *config.Daemon
	Libxl      *config.Libxl
	Log        logr.Logger
	HV         libxl.Hypervisor
	Backend    string
	Store      *store.Store
	Observer   *controllers.Observer
	Reconciler *controllers.XenDomainReconciler
	Events     *controllers.EventLog
	Specs      *specdir.Loader
	Defines    *defines.Store
	// Live keeps the live definitions of running domains under state_dir/live.
	Live  *livedefs.Store
	Facts libxl.HostFacts
	// Remote serves libvirt's REMOTE program on the read-write and read-only sockets; Admin the ADMIN program.
	Remote, Admin *rpc.Server
	// Metrics is the Prometheus endpoint, served when metrics_listen is set.
	Metrics *metrics.Server
	// Fleet is fleet mode's connection to the API server (fleet_kubeconfig); nil in local mode, where the
	// objects are in Store.
	Fleet *Fleet
	// objects is where the controllers' objects come from: Store (local) or Fleet.
	objects *objectSource

	configPath string
	listeners  *sockets
	onReady    func()
	// ready is set once the hypervisor is fully observed and the desired state read.
	ready atomic.Bool
	// Logs applies log_level, log_filters and log_outputs to Log, at start-up and at run time.
	Logs *LogControl

	adminServers []*admin.Server
	quit         context.CancelFunc // ends Serve (virt-admin daemon-shutdown)
	idleTimeout  atomic.Int64       // time.Duration; 0: never exit for idleness
}

// Run runs the daemon until ctx ends or a SIGTERM/SIGINT arrives. Guests keep running when it returns.
func Run(ctx context.Context, opts Options) (err error) {
	ready := opts.Ready
	if ready == nil {
		ready = func(error) {}
	}
	defer func() {
		if err != nil {
			ready(err)
		}
	}()
	pidPath := opts.PidFile
	if pidPath == "" {
		pidPath = DefaultPidFile
	}
	pid, err := AcquirePidFile(pidPath, os.Getpid()) // first: a second instance stops here
	if err != nil {
		return err
	}
	defer pid.Release()
	d, err := New(opts)
	if err != nil {
		return err
	}
	defer d.Logs.Close()
	socks, err := activatedSockets()
	if err == nil && socks == nil {
		socks, err = listenAll(d.Config)
	} else if socks != nil {
		d.Log.Info("socket activation: the socket settings of virtxend.conf do not apply")
	}
	if err != nil {
		d.HV.Close()
		return err
	}
	defer socks.close()
	d.listeners = socks
	d.idleTimeout.Store(int64(opts.Timeout))
	d.onReady = func() { notify(sdaemon.SdNotifyReady); ready(nil) }

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer stop()
	return d.Serve(ctx)
}

// New reads the configuration and opens the hypervisor and the object store; Serve runs them.
func New(opts Options) (*Daemon, error) {
	path := opts.ConfigFile
	explicit := path != ""
	if !explicit {
		path = config.DefaultDaemonPath
	}
	cfg, err := config.LoadDaemon(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		cfg, err = config.DefaultDaemon(), nil
	}
	if err != nil {
		return nil, err
	}
	logs, err := NewLogControl(LogOptions{Level: cfg.LogLevel, Filters: cfg.LogFilters, Outputs: cfg.LogOutputs,
		Verbose: opts.Verbose, Stderr: opts.Stderr, Daemon: opts.Ready != nil})
	if err != nil {
		return nil, err
	}
	log := logs.Logger()
	for _, w := range cfg.Warnings() {
		log.Info("configuration warning", "warning", w.String())
	}
	lx, err := config.LoadLibxl(cfg.LibxlConfigFile)
	if err != nil {
		return nil, err
	}
	for _, w := range lx.Warnings() {
		log.Info("configuration warning", "warning", w.String())
	}
	for _, dir := range []string{cfg.StateDir, cfg.DefinesDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	hv, backend, err := openHypervisor(cfg, lx)
	if err != nil {
		return nil, err
	}
	if backend == "xen" && os.Geteuid() != 0 {
		hv.Close()
		return nil, errors.New("driving Xen needs root")
	}
	if l, ok := hv.(interface{ SetLogger(logr.Logger) }); ok {
		l.SetLogger(log.WithName("libxl")) // libxenlight's own messages, under log_filters as "libxl"
	}
	d := &Daemon{Config: cfg, Libxl: lx, Log: log, HV: hv, Backend: backend, configPath: path, Logs: logs}
	if err := d.wire(); err != nil {
		hv.Close()
		return nil, err
	}
	return d, nil
}

// wire builds the store, the sources and the reconciler.
func (d *Daemon) wire() error {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	var onCreate func(client.Object)
	if !d.Config.Fleet() {
		// In local mode every domain carries the reconciler's finalizer from its first version: the reconciler
		// would add it with a write of its own to each new object, 10,000 writes when a restart re-reads 10,000
		// spec files. (In fleet mode the finalizer is the node's hold, taken only when it starts the domain.)
		onCreate = func(o client.Object) {
			if x, ok := o.(*v1alpha1.XenDomain); ok {
				controllerutil.AddFinalizer(x, controllers.Finalizer)
			}
		}
	}
	st, err := store.New(scheme, store.Options{OnCreate: onCreate})
	if err != nil {
		return err
	}
	d.Store = st
	if d.Config.Fleet() {
		if d.Fleet, err = openFleet(d.Config, scheme, d); err != nil {
			return err
		}
	}
	facts, err := hostFacts(context.Background(), d.HV, d.Backend, d.Libxl)
	if err != nil {
		return err
	}
	// The daemon's own client of the network and storage drivers: devices naming a network or a volume are
	// resolved through it at start, and domifaddr reads DHCP leases through it.
	resolver := secondary.NewResolver(secondary.Options{SocketDir: d.Config.SecondarySockDir, Log: d.Log.WithName("resolver")})
	facts.NetworkBridge, facts.VolumePath = resolver.NetworkBridge, resolver.VolumePath
	d.Facts = facts
	defaults := domxml.Defaults{HostArch: facts.Arch}
	d.Events = controllers.NewEventLog()
	sink := logSink{log: d.Log}
	d.Specs = specdir.New(d.Config.DomainsDir, st, specdir.Options{
		Rescan: d.Config.ResyncPeriod(), Log: d.Log.WithName("specdir"), Recorder: sink, Defaults: defaults,
	})
	d.Defines = defines.New(d.Config.DefinesDir, defines.Options{Log: d.Log.WithName("defines"), Recorder: sink, Defaults: defaults})
	d.objects = d.localSource()
	if d.Fleet != nil {
		d.objects = d.Fleet.source(d)
		d.Events.SetRecorder(d.Fleet.Manager.GetEventRecorder("virtxend"))
	}
	live, err := livedefs.Open(filepath.Join(d.Config.StateDir, "live"), d.Log.WithName("live"))
	if err != nil {
		return err
	}
	d.Live = live
	if d.Fleet == nil {
		live.ShareWith(func(name string, uid types.UID) *v1alpha1.DomainSpec {
			o, err := store.Shared[*v1alpha1.XenDomain](st, client.ObjectKey{Namespace: v1alpha1.LocalNamespace, Name: name})
			if err != nil || o == nil || o.UID != uid {
				return nil
			}
			return &o.Spec.Domain
		})
	}
	var lives controllers.LiveStore = live
	if r, ok := facts.GraphicsPorts.(*libxl.PortRange); ok {
		book := controllers.NewLivePorts(r, live) // the ports of domains a previous run started stay theirs
		facts.GraphicsPorts, lives = book, book
		d.Facts = facts
	}
	d.Observer = controllers.NewObserver(d.HV, d.Config.ResyncPeriod(), d.Log.WithName("observer"))
	locks := &domlock.Table{} // the domains' job locks: the facade's calls and the reconciler's cleanup
	d.Reconciler = &controllers.XenDomainReconciler{
		Client: d.objects.client, HV: d.HV, Observer: d.Observer, Events: d.Events, Locks: locks,
		Build: controllers.LibxlBuilder(facts), Live: lives,
		Opts: controllers.Options{DumpDir: filepath.Join(d.Config.StateDir, "dump"),
			ManagedSaveDir: filepath.Join(d.Config.StateDir, "save")},
	}
	facade := &remote.Facade{
		Store: d.objects.client, Observer: d.Observer, HV: d.HV, Events: d.Events, Defines: d.Defines, Specs: d.Specs,
		Facts: facts, Log: d.Log.WithName("remote"), StateDir: d.Config.StateDir, Live: live, Locks: locks,
		Leases: resolver,
	}
	facade.Counters, _ = d.HV.(libxl.DeviceStats) // every disk's and interface's counters, not only blkback's
	if d.Fleet != nil {
		facade.FleetNode, facade.Objects = d.Fleet.Node, d.Fleet.Objects()
		d.Reconciler.Opts.Node = d.Fleet.Node // an object is held (finalizer) only while its domain runs here
	}
	d.Reconciler.Migrations = &controllers.Migrations{Dir: filepath.Join(d.Config.StateDir, "migrations")}
	facade.Migration = remote.MigrationConfig{Address: d.Libxl.MigrationAddress, PortMin: d.Libxl.MigrationPortMin,
		PortMax: d.Libxl.MigrationPortMax, Keepalive: time.Duration(d.Libxl.KeepaliveInterval) * time.Second,
		KeepaliveCount: d.Libxl.KeepaliveCount, Migrations: d.Reconciler.Migrations}
	prog := rpc.NewRemoteProgram(facade.SupportsFeature)
	facade.Register(prog)
	secondary.New(secondary.Options{SocketDir: d.Config.SecondarySockDir, Log: d.Log.WithName("secondary")}).Register(prog)
	keepalive := func(interval, count int) (time.Duration, int) {
		if interval <= 0 {
			return -1, count
		}
		if count == 0 {
			count = -1
		}
		return time.Duration(interval) * time.Second, count
	}
	ki, kc := keepalive(d.Config.KeepaliveInterval, d.Config.KeepaliveCount)
	mw, pw := workerLimits(d.Config.MaxWorkers, d.Config.PrioWorkers)
	d.Remote = rpc.NewServer(rpc.Options{Name: "virtxend", MaxClients: d.Config.MaxClients,
		MaxClientRequests: d.Config.MaxClientRequests, KeepaliveInterval: ki, KeepaliveCount: kc,
		MaxWorkers: mw, PrioWorkers: pw, ReturnMemory: true}, prog, remote.NewQemuProgram(), remote.NewLXCProgram())
	ai, ac := keepalive(d.Config.AdminKeepaliveInterval, d.Config.AdminKeepaliveCount)
	amw, _ := workerLimits(d.Config.AdminMaxWorkers, 0)
	adminProg := rpc.NewAdminProgram()
	admin.Register(adminProg, d)
	d.Admin = rpc.NewServer(rpc.Options{Name: "admin", MaxClients: d.Config.AdminMaxClients,
		MaxClientRequests: d.Config.AdminMaxClientRequests, KeepaliveInterval: ai, KeepaliveCount: ac,
		MaxWorkers: amw, PrioWorkers: -1}, // libvirt's admin server has no priority workers
		adminProg)
	d.adminServers = []*admin.Server{
		admin.NewServer(d.Remote, admin.ServerConfig{MinWorkers: d.Config.MinWorkers, MaxWorkers: d.Config.MaxWorkers,
			PrioWorkers: d.Config.PrioWorkers, MaxUnauthClients: d.Config.MaxAnonymousClients}),
		admin.NewServer(d.Admin, admin.ServerConfig{MinWorkers: d.Config.AdminMinWorkers, MaxWorkers: d.Config.AdminMaxWorkers}),
	}
	return d.wireMetrics(facade.Counters)
}

// workerLimits turns max_workers and prio_workers into rpc.Options: libvirt's max_workers = 0 serves calls one
// at a time in its event loop, which one worker does here; prio_workers = 0 means none.
func workerLimits(maxWorkers, prioWorkers int) (int, int) {
	if maxWorkers <= 0 {
		maxWorkers = 1
	}
	if prioWorkers <= 0 {
		prioWorkers = -1
	}
	return maxWorkers, prioWorkers
}

// Serve runs every part until ctx ends; SIGHUP reloads.
func (d *Daemon) Serve(ctx context.Context) error {
	defer d.HV.Close()
	ctx, d.quit = context.WithCancel(ctx)
	ctx = logr.NewContext(ctx, d.Log)
	ctrl.SetLogger(d.Log)
	src := d.objects
	c, err := d.Reconciler.Setup(src.events, d.Log.WithName("reconciler"))
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Observer.Run(ctx) })
	g.Go(func() error {
		if d.Fleet != nil { // once the cache has listed this node's objects, however long the API server is away
			select {
			case <-ctx.Done():
				return nil
			case <-d.Fleet.Synced():
			}
		}
		return c.Start(ctx)
	})
	src.run(ctx, g)
	g.Go(func() error {
		a := &controllers.Autostarter{Client: src.client, Reconciler: d.Reconciler,
			FlagFile: filepath.Join(d.Config.StateDir, "autostarted"), BootID: d.bootID(ctx), Log: d.Log.WithName("autostart")}
		return a.Run(ctx, src.loaded...)
	})
	g.Go(func() error {
		// Running domains no source claims (transient ones, undefined or file removed while the daemon was down)
		// get transient objects, once the sources have loaded; in fleet mode they are reported and left running.
		a := &controllers.Adopter{Client: src.client, Observer: d.Observer, Live: d.Reconciler.Live, ReportOnly: src.fleet,
			Log: d.Log.WithName("adopt"), Interval: d.Config.ResyncPeriod()}
		if !src.fleet {
			a.Owns = func(ns, uuid string) (bool, error) {
				return store.HasField[*v1alpha1.XenDomain](d.Store, ns, store.FieldDomainUUID, uuid)
			}
		}
		return a.Run(ctx, src.loaded...)
	})
	g.Go(func() error { return d.handleSignals(ctx) })
	if d.listeners != nil {
		// Answer no client before the first full observation and, in local mode, before the definitions and the
		// drop-in directory are read: libvirt loads its configurations before it serves, so a client never lists
		// half of them. (In fleet mode the cache may wait for an API server that is away: virsh is served anyway.)
		ready := []<-chan struct{}{d.Observer.Synced()}
		if !src.fleet {
			ready = append(ready, src.loaded...)
		}
		serve := func(srv *rpc.Server, l net.Listener, ro bool) {
			g.Go(func() error {
				for _, ch := range ready {
					select {
					case <-ch:
					case <-ctx.Done():
						return nil
					}
				}
				err := srv.Serve(logr.NewContext(ctx, d.Log.WithName("rpc")), l, rpc.ListenerOpts{ReadOnly: ro})
				if ctx.Err() != nil {
					return nil
				}
				return err
			})
		}
		serve(d.Remote, d.listeners.rw, false)
		if d.listeners.ro != nil {
			serve(d.Remote, d.listeners.ro, true)
		}
		if d.listeners.admin != nil {
			serve(d.Admin, d.listeners.admin, false)
		}
		g.Go(func() error {
			<-ctx.Done()
			d.Remote.Close()
			d.Admin.Close()
			return nil
		})
	}
	g.Go(func() error {
		select { // ready: the hypervisor fully observed, the desired state read
		case <-ctx.Done():
			return nil
		case <-d.Observer.Synced():
		}
		for _, ch := range src.ready {
			select {
			case <-ctx.Done():
				return nil
			case <-ch:
			}
		}
		d.ready.Store(true)
		if d.onReady != nil {
			d.onReady()
		}
		return nil
	})
	g.Go(func() error { return d.exitWhenIdle(ctx) })
	defer tuneHeap(&d.Reconciler.Reconciles)()
	g.Go(func() error { return d.returnMemory(ctx) })
	g.Go(func() error { return d.serveMetrics(ctx) })
	d.Log.Info("virtxend started", "hypervisor", d.Backend, "domains_dir", d.Config.DomainsDir, "defines_dir", d.Config.DefinesDir)
	err = g.Wait()
	notify(sdaemon.SdNotifyStopping)
	d.Log.Info("virtxend stopped: guests keep running")
	if errors.Is(err, context.Canceled) || errors.Is(err, errIdle) {
		return nil
	}
	return err
}

func (d *Daemon) handleSignals(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			notify(sdaemon.SdNotifyReloading)
			d.Reload(ctx)
			notify(sdaemon.SdNotifyReady)
		}
	}
}

// Reload is SIGHUP: re-read virtxend.conf (reporting what cannot change until a restart) and rescan the
// desired-state sources. Clients stay connected.
func (d *Daemon) Reload(ctx context.Context) {
	d.Log.Info("reloading")
	if next, err := config.LoadDaemon(d.configPath); err == nil {
		applied, restart := d.applyConfig(next)
		if len(restart) > 0 {
			d.Log.Info("configuration changes that take effect at the next start", "keys", strings.Join(restart, ","))
		}
		if len(applied) > 0 {
			d.Log.Info("configuration changes applied", "keys", strings.Join(applied, ","))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		d.Log.Error(err, "reload: configuration not changed")
	}
	if d.Fleet != nil {
		return // the API server is the record: no local source to rescan
	}
	if err := d.Defines.Load(ctx, d.Store); err != nil {
		d.Log.Error(err, "reload persistent definitions")
	}
	if err := d.Specs.Rescan(ctx); err != nil {
		d.Log.Error(err, "rescan the drop-in directory")
	}
}

func (d *Daemon) bootID(ctx context.Context) string {
	info, err := d.HV.HostInfo(ctx)
	if err == nil && info.BootID != "" {
		return info.BootID
	}
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// applyConfig takes the settings of a re-read virtxend.conf that can change at run time, and returns which
// changed keys it applied and which wait for the next start.
func (d *Daemon) applyConfig(next *config.Daemon) (applied, restart []string) {
	changed, restart := d.Config.Diff(next)
	for _, key := range changed {
		switch key {
		case "max_clients":
			d.Remote.SetMaxClients(next.MaxClients)
			d.Config.MaxClients = next.MaxClients
		case "admin_max_clients":
			d.Admin.SetMaxClients(next.AdminMaxClients)
			d.Config.AdminMaxClients = next.AdminMaxClients
		case "max_workers", "prio_workers":
			d.Config.MaxWorkers, d.Config.PrioWorkers = next.MaxWorkers, next.PrioWorkers
			d.Remote.SetWorkers(workerLimits(d.Config.MaxWorkers, d.Config.PrioWorkers))
		case "admin_max_workers":
			d.Config.AdminMaxWorkers = next.AdminMaxWorkers
			amw, _ := workerLimits(d.Config.AdminMaxWorkers, 0)
			d.Admin.SetWorkers(amw, 0)
		case "log_level":
			if err := d.Logs.SetLevel(next.LogLevel); err != nil {
				d.Log.Error(err, "reload log_level")
				continue
			}
			d.Config.LogLevel = next.LogLevel
		case "log_filters":
			if err := d.Logs.SetFilters(next.LogFilters); err != nil {
				d.Log.Error(err, "reload log_filters")
				continue
			}
			d.Config.LogFilters = next.LogFilters
		case "log_outputs":
			if err := d.Logs.SetOutputs(next.LogOutputs); err != nil {
				d.Log.Error(err, "reload log_outputs")
				continue
			}
			d.Config.LogOutputs = next.LogOutputs
		default:
			restart = append(restart, key) // reloadable in principle, not applied by this version yet
			continue
		}
		applied = append(applied, key)
	}
	return applied, restart
}

// Servers returns the RPC servers as the admin program manages them (admin.Daemon).
func (d *Daemon) Servers() []*admin.Server { return d.adminServers }

// Logging returns the log control (admin.Daemon).
func (d *Daemon) Logging() admin.Logging { return d.Logs }

// Shutdown ends Serve as SIGTERM does (admin.Daemon: virt-admin daemon-shutdown).
func (d *Daemon) Shutdown(bool) { d.quit() }

// Client is the object store as the RPC facade and tests write to it.
func (d *Daemon) Client() client.Client { return d.Store }

// logSink routes source events to the log.
type logSink struct{ log logr.Logger }

func (s logSink) Event(name, eventType, reason, message string) {
	s.log.Info(message, "domain", name, "type", eventType, "reason", reason)
}
