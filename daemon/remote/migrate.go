package remote

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// virDomainMigrateFlags the libxl driver accepts (LIBXL_MIGRATION_FLAGS) and the parameters it knows.
const (
	migrateLive             = 1 << 0 // VIR_MIGRATE_LIVE
	migratePeer2Peer        = 1 << 1 // VIR_MIGRATE_PEER2PEER
	migrateTunnelled        = 1 << 2 // VIR_MIGRATE_TUNNELLED
	migratePersistDest      = 1 << 3 // VIR_MIGRATE_PERSIST_DEST
	migrateUndefineSource   = 1 << 4 // VIR_MIGRATE_UNDEFINE_SOURCE
	migratePaused           = 1 << 5 // VIR_MIGRATE_PAUSED
	migrateChangeProtection = 1 << 8 // VIR_MIGRATE_CHANGE_PROTECTION
	migrationFlags          = migrateLive | migratePeer2Peer | migrateTunnelled | migratePersistDest | migrateUndefineSource | migratePaused | migrateChangeProtection

	paramURI      = "migrate_uri"      // VIR_MIGRATE_PARAM_URI
	paramDestName = "destination_name" // VIR_MIGRATE_PARAM_DEST_NAME
	paramDestXML  = "destination_xml"  // VIR_MIGRATE_PARAM_DEST_XML
	typeString    = 7                  // VIR_TYPED_PARAM_STRING
	migrateMaxLen = 4 << 20            // REMOTE_MIGRATE_COOKIE_MAX
	defaultPortLo = 49152              // libvirt's migration_port_min
	defaultPortHi = 49216              // libvirt's migration_port_max
	featureChange = 7                  // VIR_DRV_FEATURE_MIGRATE_CHANGE_PROTECTION
	cookieElement = "libxl-migration"  // libvirt's cookie root
	xmlSecureFlag = xmlSecure          // Begin formats the definition as libvirt does (SECURE)
	hostdevRefuse = "domain has assigned host devices"
)

// migrationFeatures are the CONNECT_SUPPORTS_FEATURE answers of libvirt's libxl driver for migration.
var migrationFeatures = map[int32]bool{
	rpc.FeatureMigrationV3: true, rpc.FeatureMigrationParams: true, rpc.FeatureMigrationP2P: true, featureChange: true,
}

// MigrationConfig is how this daemon takes part in migrations (libxl.conf's migration keys).
type MigrationConfig struct {
	// Address is what Prepare listens on and advertises; empty means the host's name.
	Address string
	// PortMin and PortMax bound the listening ports (0: libvirt's 49152–49216).
	PortMin, PortMax int
	// Keepalive and KeepaliveCount drive the pings on a peer-to-peer connection to the destination.
	Keepalive      time.Duration
	KeepaliveCount int
	// Migrations hands streams to the reconciler; shared with it.
	Migrations *controllers.Migrations
}

// migrationState is the facade's incoming migrations, by domain name, between Prepare and Finish.
type migrationState struct {
	mu       sync.Mutex
	incoming map[string]*incoming
}

// incoming is one prepared incoming migration.
type incoming struct {
	obj      *v1alpha1.XenDomain
	actionID string
	job      *controllers.MigrationJob
	close    func() // stops the listener or the tunnel
	port     int
}

func registerMigration(f *Facade, p *rpc.Program) {
	f.mig = &migrationState{incoming: map[string]*incoming{}}
	if f.Migration.Migrations == nil {
		f.Migration.Migrations = &controllers.Migrations{}
	}
	rpc.Register(p, rpc.ProcDomainMigrateBegin3Params, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainMigrateBegin3ParamsArgs) (*libvirt.DomainMigrateBegin3ParamsRet, error) {
		if err := checkMigration(a.Flags, a.Params, "libxlDomainMigrateBegin3Params"); err != nil {
			return nil, err
		}
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		xmlOut, cookie, err := f.migrateBegin(ctx, d, a.Params)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainMigrateBegin3ParamsRet{CookieOut: cookie, XML: xmlOut}, nil
	})
	rpc.Register(p, rpc.ProcDomainMigratePrepare3Params, func(ctx context.Context, call *rpc.Call, a *libvirt.DomainMigratePrepare3ParamsArgs) (*libvirt.DomainMigratePrepare3ParamsRet, error) {
		if err := checkMigration(a.Flags, a.Params, "libxlDomainMigratePrepare3Params"); err != nil {
			return nil, err
		}
		uri, cookie, err := f.migratePrepare(ctx, call, a.Params, a.CookieIn, a.Flags, nil)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainMigratePrepare3ParamsRet{UriOut: libvirt.OptString{uri}, CookieOut: cookie}, nil
	})
	rpc.Register(p, rpc.ProcDomainMigratePrepareTunnel3Params, func(ctx context.Context, call *rpc.Call, a *libvirt.DomainMigratePrepareTunnel3ParamsArgs) (*libvirt.DomainMigratePrepareTunnel3ParamsRet, error) {
		if err := checkMigration(a.Flags, a.Params, "libxlDomainMigratePrepareTunnel3Params"); err != nil {
			return nil, err
		}
		st := call.OpenStream()
		_, cookie, err := f.migratePrepare(ctx, call, a.Params, a.CookieIn, a.Flags, st)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainMigratePrepareTunnel3ParamsRet{CookieOut: cookie}, nil
	})
	rpc.Register(p, rpc.ProcDomainMigratePerform3Params, func(ctx context.Context, call *rpc.Call, a *libvirt.DomainMigratePerform3ParamsArgs) (*libvirt.DomainMigratePerform3ParamsRet, error) {
		flags := uint32(a.Flags)
		if err := checkMigration(flags, a.Params, "libxlDomainMigratePerform3Params"); err != nil {
			return nil, err
		}
		if flags&migratePeer2Peer != 0 {
			dconnuri, _ := optString(a.Dconnuri)
			return &libvirt.DomainMigratePerform3ParamsRet{}, f.migrateP2P(ctx, a.Dom, dconnuri, a.Params, flags)
		}
		uri := paramString(a.Params, paramURI)
		job, err := f.migratePerform(ctx, a.Dom, uri, flags, recoveryURI(a.CookieIn), paramString(a.Params, paramDestName))
		if job != nil {
			// Until Confirm the guest waits suspended; a caller gone before it leaves the journal to settle it.
			call.Client.OnClose(func() { f.Migration.Migrations.RemoveJob(job) })
		}
		return &libvirt.DomainMigratePerform3ParamsRet{}, err
	})
	rpc.Register(p, rpc.ProcDomainMigrateFinish3Params, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainMigrateFinish3ParamsArgs) (*libvirt.DomainMigrateFinish3ParamsRet, error) {
		if err := checkMigration(a.Flags, a.Params, "libxlDomainMigrateFinish3Params"); err != nil {
			return nil, err
		}
		w, err := f.migrateFinish(ctx, paramString(a.Params, paramDestName), a.Flags, a.Cancelled != 0)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainMigrateFinish3ParamsRet{Dom: w}, nil
	})
	rpc.Register(p, rpc.ProcDomainMigrateConfirm3Params, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainMigrateConfirm3ParamsArgs) (*struct{}, error) {
		if err := checkMigration(a.Flags, a.Params, "libxlDomainMigrateConfirm3Params"); err != nil {
			return nil, err
		}
		return nil, f.migrateConfirm(ctx, a.Dom, a.Flags, a.Cancelled != 0)
	})
	f.Migration.Migrations.Resolve = f.resolveMigration
	f.Migration.Migrations.Undefine = f.removeMigratedDefinition
	if f.HV != nil {
		if doms, err := f.HV.ListDomains(context.Background()); err == nil {
			have := map[string]bool{}
			for _, d := range doms {
				have[strings.ToLower(d.UUID)] = true
			}
			f.Migration.Migrations.Sweep(func(u string) bool { return have[strings.ToLower(u)] })
		}
	}
}

// checkMigration refuses flags and parameters libvirt's libxl driver refuses (virCheckFlags,
// virTypedParamsValidate).
func checkMigration(flags uint32, params []libvirt.TypedParam, api string) error {
	if bad := flags &^ migrationFlags; bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, api)
	}
	for _, p := range params {
		switch p.Field {
		case paramURI, paramDestName, paramDestXML:
			if p.Value.D != typeString {
				return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "invalid type for parameter '%s'", p.Field)
			}
		default:
			return rpc.Errorf(rpc.CodeArgumentUnsupported, rpc.DomainNone, "parameter '%s' not supported", p.Field)
		}
	}
	return nil
}

// paramString returns the string parameter name, or "".
func paramString(params []libvirt.TypedParam, name string) string {
	for _, p := range params {
		if p.Field == name {
			if s, ok := p.Value.I.(string); ok {
				return s
			}
		}
	}
	return ""
}

// migrationCookie is libvirt's <libxl-migration> cookie (libxlMigrationBakeCookie).
type migrationCookie struct {
	XMLName       xml.Name `xml:"libxl-migration"`
	Name          string   `xml:"name"`
	UUID          string   `xml:"uuid"`
	Hostname      string   `xml:"hostname"`
	StreamVersion int      `xml:"migration-stream-version"`
	// RecoveryURI is virtxend's addition to the cookie Prepare returns (libvirt ignores unknown elements): how
	// the source's daemon reaches the destination's to settle a migration either was interrupted in.
	RecoveryURI string `xml:"virtxend-uri,omitempty"`
}

// recoveryURI is the RecoveryURI of a cookie, or "".
func recoveryURI(raw []byte) string {
	if len(raw) == 0 || raw[len(raw)-1] != 0 {
		return ""
	}
	var c migrationCookie
	if xml.Unmarshal(raw[:len(raw)-1], &c) != nil {
		return ""
	}
	return c.RecoveryURI
}

// selfURI is the libvirt URI by which the client of call reached this daemon.
func selfURI(call *rpc.Call) string {
	if call == nil || call.Client == nil {
		return ""
	}
	info := call.Client.Info()
	switch {
	case info.LocalAddr == "":
		return ""
	case info.Transport == rpc.TransportUnix:
		return "xen+unix:///system?socket=" + url.QueryEscape(info.LocalAddr)
	case info.Transport == rpc.TransportTCP:
		return "xen+tcp://" + info.LocalAddr + "/system"
	}
	return ""
}

// bake formats the cookie as libvirt does, NUL included.
func (c migrationCookie) bake() []byte {
	b, _ := xml.MarshalIndent(c, "", "  ")
	return append(append(b, '\n'), 0)
}

// eatCookie reads a cookie (libxlMigrationEatCookie): none means a version 1 stream.
func eatCookie(raw []byte) (migrationCookie, error) {
	c := migrationCookie{StreamVersion: 1}
	if len(raw) == 0 {
		return c, nil
	}
	if raw[len(raw)-1] != 0 {
		return c, rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "Migration cookie was not NULL terminated")
	}
	c.StreamVersion = 0
	if err := xml.Unmarshal(raw[:len(raw)-1], &c); err != nil {
		return c, rpc.Errorf(rpc.CodeXMLError, rpc.DomainLibxl, "(libxl_migration_cookie): %v", err)
	}
	switch {
	case c.Name == "":
		return c, rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "missing name element in migration data")
	case c.UUID == "":
		return c, rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "missing uuid element in migration data")
	case uuid.Validate(c.UUID) != nil:
		return c, rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "malformed uuid element")
	case c.StreamVersion == 0:
		return c, rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "missing Xen migration stream version")
	}
	return c, nil
}

// hostname is the name the host goes by in cookies and advertised URIs.
func (f *Facade) hostname(ctx context.Context) string {
	if info, err := f.HV.HostInfo(ctx); err == nil && info.Hostname != "" {
		return info.Hostname
	}
	name, _ := os.Hostname()
	return name
}

// migrateBegin is libxlDomainMigrationSrcBegin: the definition the destination gets, and the cookie.
func (f *Facade) migrateBegin(ctx context.Context, d *dom, params []libvirt.TypedParam) (string, []byte, error) {
	if d.IsDom0() {
		return "", nil, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "Domain-0 cannot be migrated")
	}
	if _, err := managed(d); err != nil {
		return "", nil, err
	}
	if err := checkActive(d); err != nil {
		return "", nil, err
	}
	if len(d.Obj.Spec.Domain.Devices.Hostdevs) > 0 {
		return "", nil, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, hostdevRefuse)
	}
	out := paramString(params, paramDestXML)
	if out == "" {
		var err error
		if out, err = f.domainXML(ctx, d, xmlSecureFlag); err != nil {
			return "", nil, err
		}
	}
	c := migrationCookie{Name: d.Name, UUID: d.UUID, Hostname: f.hostname(ctx), StreamVersion: libxl.MigrationStreamVersion}
	return out, c.bake(), nil
}

// migratePrepare is libxlDomainMigrationDstPrepare (st nil) and ...PrepareTunnel3 (st the call's stream): it
// creates the incoming domain's object, paused-to-be, and starts receiving in the reconciler.
func (f *Facade) migratePrepare(ctx context.Context, call *rpc.Call, params []libvirt.TypedParam, cookieIn []byte, flags uint32, st *rpc.Stream) (string, []byte, error) {
	uri, err := f.prepareIncoming(ctx, call, params, cookieIn, flags, st)
	if err != nil {
		return "", nil, err
	}
	c, _ := eatCookie(cookieIn)
	out := migrationCookie{Name: c.Name, UUID: c.UUID, Hostname: f.hostname(ctx), StreamVersion: libxl.MigrationStreamVersion,
		RecoveryURI: selfURI(call)}
	return uri, out.bake(), nil
}

func (f *Facade) prepareIncoming(ctx context.Context, call *rpc.Call, params []libvirt.TypedParam, cookieIn []byte, flags uint32, st *rpc.Stream) (string, error) {
	if len(cookieIn) > migrateMaxLen {
		return "", rpc.NewError(rpc.CodeRPC, rpc.DomainRPC, "migration cookie too large")
	}
	c, err := eatCookie(cookieIn)
	if err != nil {
		return "", err
	}
	if c.StreamVersion > libxl.MigrationStreamVersion {
		return "", rpc.Errorf(rpc.CodeOperationUnsupported, rpc.DomainLibxl,
			"Xen migration stream version '%d' is not supported on this host", c.StreamVersion)
	}
	domXML := paramString(params, paramDestXML)
	if domXML == "" {
		return "", rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "no domain XML passed")
	}
	spec, err := f.parseDefinition(domXML)
	if err != nil {
		return "", err
	}
	if dname := paramString(params, paramDestName); dname != "" {
		spec.Name = dname
	}
	unlock, err := f.lockDomain(ctx, spec.Name, spec.UUID)
	if err != nil {
		return "", err
	}
	defer unlock()
	existing, err := f.checkIdentity(ctx, spec, true)
	if err != nil {
		return "", err
	}
	job := controllers.NewMigrationJob(spec.UUID, spec.Name)
	job.StreamVersion = c.StreamVersion
	in := &incoming{actionID: uuid.NewString(), job: job}
	var uriOut string
	if st != nil {
		job.In, in.close = st, func() { st.Abort(errors.New("migration cancelled")) }
	} else {
		ln, port, host, err := f.migrationListen(ctx, paramString(params, paramURI))
		if err != nil {
			return "", err
		}
		ar := &acceptReader{ln: ln}
		job.In, in.close, in.port = ar, ar.Close, port
		uriOut = "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
		if !strings.Contains(host, ":") {
			uriOut = fmt.Sprintf("tcp://%s:%d", host, port)
		}
	}
	f.Migration.Migrations.Add(in.actionID, job)
	action := &v1alpha1.DomainAction{ID: in.actionID, Verb: v1alpha1.VerbMigrateIn}
	if existing != nil {
		in.obj, err = f.update(ctx, existing.Obj, func(o *v1alpha1.XenDomain) error {
			o.Spec.Paused = true
			o.Spec.Action = action
			return nil
		})
	} else {
		obj := &v1alpha1.XenDomain{
			TypeMeta: metav1.TypeMeta{Kind: "XenDomain", APIVersion: v1alpha1.GroupVersion.String()},
			ObjectMeta: metav1.ObjectMeta{
				Name: spec.Name, Namespace: v1alpha1.LocalNamespace, UID: types.UID(spec.UUID),
				Labels: map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindTransient},
			},
			Spec: v1alpha1.XenDomainSpec{Domain: *spec, RunStrategy: v1alpha1.RunStrategyManual,
				DriftPolicy: v1alpha1.DriftPolicyEnforce, Paused: true, Action: action},
		}
		if err = f.createObject(ctx, obj); apierrors.IsAlreadyExists(err) {
			err = rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainDomain, "domain '%s' already exists", spec.Name)
		} else if err != nil {
			err = internalErr(err)
		}
		in.obj = obj
	}
	if err != nil {
		in.close()
		f.Migration.Migrations.Remove(in.actionID)
		return "", err
	}
	f.mig.mu.Lock()
	if old := f.mig.incoming[spec.Name]; old != nil {
		old.close()
	}
	f.mig.incoming[spec.Name] = in
	f.mig.mu.Unlock()
	if call != nil && call.Client != nil {
		// A caller gone before Finish takes the migration with it (as libvirt's close callbacks do): nothing
		// else would ever finish or cancel it.
		call.Client.OnClose(func() {
			if f.takeIncomingIf(spec.Name, in) {
				f.Log.Info("the connection that prepared an incoming migration closed before Finish: dropping it", "domain", spec.Name)
				_, _ = f.finishIncoming(context.Background(), in, 0, true)
			}
		})
	}
	f.Log.Info("incoming migration prepared", "domain", spec.Name, "uri", uriOut, "tunnelled", st != nil, "from", c.Hostname)
	return uriOut, nil
}

// migrationListen listens for the migration stream: on the port of uriIn if it names one, else on the first free
// port of the configured range (virPortAllocatorAcquire).
func (f *Facade) migrationListen(ctx context.Context, uriIn string) (net.Listener, int, string, error) {
	host, port := f.Migration.Address, 0
	if uriIn != "" {
		if !strings.HasPrefix(uriIn, "tcp://") {
			uriIn = "tcp://" + uriIn
		}
		u, err := url.Parse(uriIn)
		if err != nil {
			return nil, 0, "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "unable to parse URI: %s", uriIn)
		}
		if u.Hostname() == "" {
			return nil, 0, "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "missing host in migration URI: %s", uriIn)
		}
		host = u.Hostname()
		port, _ = strconv.Atoi(u.Port())
	}
	if host == "" {
		host = f.hostname(ctx)
		if strings.HasPrefix(host, "localhost") {
			return nil, 0, "", rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl,
				"hostname on destination resolved to localhost, but migration requires an FQDN")
		}
	}
	if port != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, 0, "", rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "Fail to create socket for incoming migration")
		}
		return ln, port, host, nil
	}
	lo, hi := f.Migration.PortMin, f.Migration.PortMax
	if lo <= 0 || hi < lo {
		lo, hi = defaultPortLo, defaultPortHi
	}
	for p := lo; p <= hi; p++ {
		if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
			return ln, p, host, nil
		}
	}
	return nil, 0, "", rpc.Errorf(rpc.CodeInternalError, rpc.DomainNone,
		"Unable to find an unused port in range 'migration' (%d-%d)", lo, hi)
}

// acceptReader reads the first connection accepted on ln; Close stops the listener and that connection.
type acceptReader struct {
	ln   net.Listener
	once sync.Once
	mu   sync.Mutex
	conn net.Conn
	err  error
}

func (a *acceptReader) Read(p []byte) (int, error) {
	a.once.Do(func() {
		c, err := a.ln.Accept()
		a.ln.Close() // one stream per migration, as libvirt closes its listening sockets
		a.mu.Lock()
		a.conn, a.err = c, err
		a.mu.Unlock()
	})
	a.mu.Lock()
	c, err := a.conn, a.err
	a.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("accept migration connection: %w", err)
	}
	return c.Read(p)
}

// Close ends the incoming stream.
func (a *acceptReader) Close() {
	a.ln.Close()
	a.mu.Lock()
	if a.conn != nil {
		a.conn.Close()
	}
	a.mu.Unlock()
}

// takeIncomingIf removes in, the prepared migration of the domain named name, unless it was taken already.
func (f *Facade) takeIncomingIf(name string, in *incoming) bool {
	f.mig.mu.Lock()
	defer f.mig.mu.Unlock()
	if f.mig.incoming[name] != in {
		return false
	}
	delete(f.mig.incoming, name)
	return true
}

// takeIncoming removes and returns the prepared migration of the domain named name.
func (f *Facade) takeIncoming(name string) *incoming {
	f.mig.mu.Lock()
	defer f.mig.mu.Unlock()
	in := f.mig.incoming[name]
	delete(f.mig.incoming, name)
	return in
}
