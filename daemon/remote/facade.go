package remote

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/defines"
	"github.com/virtxend/virtxend/daemon/domlock"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/daemon/specdir"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
)

// Facade serves libvirt's API for one daemon. Its fields are set once, before Register.
type Facade struct {
	// Store holds the XenDomain objects; every change goes through it (the local object store, or in fleet mode
	// the API server behind the manager's client).
	Store client.WithWatch
	// Objects reads the objects of this host's view for lookups; Register reads Store when it is the local
	// object store and Objects is nil.
	Objects DomainReader
	// FleetNode is this host's name in fleet mode, empty in local mode. The objects are then the API server's
	// record: definition edits are refused, naming the object, and lifecycle calls are written to the object as
	// actions, as everywhere.
	FleetNode string
	// Observer is what the hypervisor holds, as last seen.
	Observer *controllers.Observer
	// HV is the read-only half of the hypervisor port (host information, vcpu information, console paths): the
	// facade cannot change a domain except through the reconciler.
	HV libxl.Reader
	// Events are the reconciler's lifecycle events, published to clients' event callbacks.
	Events *controllers.EventLog
	// Defines are libvirt's persistent definitions (virsh define).
	Defines *defines.Store
	// Specs is the drop-in directory loader: domains it owns refuse configuration edits.
	Specs *specdir.Loader
	// Facts are the host facts the config builder uses (domxml-to-native, capabilities).
	Facts libxl.HostFacts
	// Log is the facade's logger.
	Log logr.Logger
	// Timeout bounds how long a call waits for its turn on a domain: the job lock, an action another call
	// started (libvirt's VIR_JOB_WAIT_TIME, 30 s).
	Timeout time.Duration
	// OperationTimeout bounds how long a call waits for the reconciler's outcome of its own operation once it
	// has its turn. libvirt waits for libxl however long it takes (a start on a slow host can take minutes, and
	// libxl has timeouts of its own); virtxend waits this long (default 10 minutes), then answers "Timed out
	// during operation" (a transient domain is then removed, as after a failed start).
	OperationTimeout time.Duration
	// Live are the live definitions of the running domains, as the reconciler keeps them.
	Live controllers.LiveReader
	// StateDir holds runtime files (managed save images, core dumps).
	StateDir string
	// DMIDir is where the kernel publishes the host's SMBIOS strings; empty means /sys/class/dmi/id.
	DMIDir string
	// Locks are the domains' job locks, shared with the reconciler; Register makes private ones when nil.
	Locks *domlock.Table
	// Counters reads every disk's and interface's counters through the hypervisor port; when nil, only the
	// kernel's blkback disks and /proc/net/dev interfaces have counters, as in libvirt's libxl driver.
	Counters libxl.DeviceStats
	// Leases reads the DHCP leases of the network driver (domifaddr --source lease); nil: every call fails as
	// without a network driver.
	Leases LeaseSource
	// Migration configures live migration (see migrate.go).
	Migration MigrationConfig

	mig *migrationState
	// What the facade keeps of its clients' calls in progress: the attached consoles, the jobs it runs (save,
	// restore, dump) by domain UUID, and the hub of the events it produces itself.
	consolesMu sync.Mutex
	consoles   map[consoleKey]*consoleSession
	jobStarts  sync.Map // lower-case UUID → time.Time
	hubOnce    sync.Once
	ownEvents  *eventHub
}

// groups are the procedure groups, one registration function per file that implements procedures.
var groups = []func(f *Facade, p *rpc.Program){
	registerCapabilities, registerConnect, registerConsole, registerDefine, registerDevices, registerDomains,
	registerEvents, registerHost, registerIfAddr, registerLifecycle, registerMigration, registerMigrationJobs,
	registerNative, registerNode, registerSave, registerStats, registerTuning, registerXML,
}

// Register registers every implemented procedure on the REMOTE program p.
func (f *Facade) Register(p *rpc.Program) {
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	if f.OperationTimeout <= 0 {
		f.OperationTimeout = 10 * time.Minute
	}
	if f.Log.GetSink() == nil {
		f.Log = logr.Discard()
	}
	if f.Locks == nil {
		f.Locks = &domlock.Table{}
	}
	if s, ok := f.Store.(*store.Store); ok && f.Objects == nil {
		f.Objects = LocalObjects(s)
	}
	for _, g := range groups {
		g(f, p)
	}
	p.MapErrors(mapCallErr)
}

// client is the store as a controller-runtime client.
func (f *Facade) client() client.Client { return f.Store }

// ctxFor bounds a call's wait for its turn on a domain.
func (f *Facade) ctxFor(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.Timeout)
}

// ctxForOutcome bounds a call's wait for the outcome of its own operation.
func (f *Facade) ctxForOutcome(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.OperationTimeout)
}
