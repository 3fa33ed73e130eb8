package admin_test

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/config"
	"github.com/virtxend/virtxend/daemon/admin"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// fakeDaemon is the daemon side of the admin program: two real rpc.Servers and recorded settings.
type fakeDaemon struct {
	servers []*admin.Server

	mu       sync.Mutex
	filters  string
	outputs  string
	timeout  time.Duration
	shutdown chan bool
}

func (d *fakeDaemon) Servers() []*admin.Server { return d.servers }
func (d *fakeDaemon) Logging() admin.Logging   { return d }

func (d *fakeDaemon) SetIdleTimeout(t time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timeout = t
}

func (d *fakeDaemon) Shutdown(preserve bool) { d.shutdown <- preserve }

func (d *fakeDaemon) Filters() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.filters
}

func (d *fakeDaemon) Outputs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.outputs == "" {
		return "3:stderr"
	}
	return d.outputs
}

func (d *fakeDaemon) SetFilters(s string) error {
	if _, err := config.ParseLogFilters(s); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.filters = s
	return nil
}

func (d *fakeDaemon) SetOutputs(s string) error {
	if _, err := config.ParseLogOutputs(s); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.outputs = s
	return nil
}

// env is a daemon serving REMOTE on sock and ADMIN on adminSock.
type env struct {
	d               *fakeDaemon
	remote, admin   *rpc.Server
	sock, adminSock string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	remoteProg := rpc.NewRemoteProgram(nil)
	rpc.Register(remoteProg, rpc.ProcConnectOpen, func(_ context.Context, call *rpc.Call, _ *rpc.ConnectOpenArgs) (*struct{}, error) {
		call.Client.SetOpened(true)
		return nil, nil
	})
	adminProg := rpc.NewAdminProgram()
	d := &fakeDaemon{shutdown: make(chan bool, 1)}
	admin.Register(adminProg, d)
	e := &env{d: d,
		remote: rpc.NewServer(rpc.Options{Name: "virtxend", MaxClients: 5000}, remoteProg),
		admin:  rpc.NewServer(rpc.Options{Name: "admin", MaxClients: 5000}, adminProg),
	}
	d.servers = []*admin.Server{
		admin.NewServer(e.remote, admin.ServerConfig{MinWorkers: 5, MaxWorkers: 20, PrioWorkers: 5, MaxUnauthClients: 20}),
		admin.NewServer(e.admin, admin.ServerConfig{MinWorkers: 5, MaxWorkers: 20}),
	}
	dir := t.TempDir()
	e.sock, e.adminSock = filepath.Join(dir, "virtxend-sock"), filepath.Join(dir, "virtxend-admin-sock")
	ctx, cancel := context.WithCancel(context.Background())
	for srv, path := range map[*rpc.Server]string{e.remote: e.sock, e.admin: e.adminSock} {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ctx, l, rpc.ListenerOpts{}) }()
	}
	t.Cleanup(func() {
		cancel()
		e.remote.Close()
		e.admin.Close()
	})
	return e
}

// client is a bare protocol client: enough to call any procedure of one program and read its reply.
type client struct {
	t      *testing.T
	prog   uint32
	nc     net.Conn
	br     *bufio.Reader
	serial uint32
}

func dial(t *testing.T, path string, prog uint32) *client {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, prog: prog, nc: nc, br: bufio.NewReader(nc)}
}

// adminClient dials the admin socket and opens the connection.
func (e *env) adminClient(t *testing.T) *client {
	t.Helper()
	c := dial(t, e.adminSock, rpc.ProgramAdmin)
	c.must(rpc.AdminProcConnectOpen, &admin.ConnectOpenArgs{}, nil)
	return c
}

// remoteClient dials the REMOTE socket and opens the connection, as virsh would.
func (e *env) remoteClient(t *testing.T) *client {
	t.Helper()
	c := dial(t, e.sock, rpc.ProgramRemote)
	c.must(rpc.ProcConnectOpen, &rpc.ConnectOpenArgs{Name: libvirt.OptString{"xen:///system"}}, nil)
	return c
}

// call calls proc with args and decodes the reply into ret (when not nil); an error reply is returned as an
// *rpc.Error.
func (c *client) call(proc int32, args, ret any) error {
	c.t.Helper()
	c.serial++
	var body []byte
	if args != nil {
		var err error
		if body, err = rpc.Marshal(args); err != nil {
			c.t.Fatal(err)
		}
	}
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	h := rpc.Header{Program: c.prog, Version: rpc.ProtocolVersion, Procedure: proc, Type: rpc.TypeCall, Serial: c.serial}
	if err := rpc.WritePacket(c.nc, h, body); err != nil {
		c.t.Fatalf("send proc %d: %v", proc, err)
	}
	for {
		rh, rbody, err := rpc.ReadPacket(c.br, nil)
		if err != nil {
			c.t.Fatalf("read reply to proc %d: %v", proc, err)
		}
		if rh.Program == rpc.ProgramKeepalive || rh.Serial != c.serial {
			continue
		}
		if rh.Status == rpc.StatusError {
			e, err := rpc.UnmarshalError(rbody)
			if err != nil {
				c.t.Fatal(err)
			}
			return e
		}
		if ret != nil {
			if err := rpc.Unmarshal(rbody, ret); err != nil {
				c.t.Fatalf("decode reply to proc %d: %v", proc, err)
			}
		}
		return nil
	}
}

func (c *client) must(proc int32, args, ret any) {
	c.t.Helper()
	if err := c.call(proc, args, ret); err != nil {
		c.t.Fatalf("proc %d: %v", proc, err)
	}
}

// params maps typed parameters by name, checking their order is kept elsewhere.
func params(ps []libvirt.TypedParam) map[string]any {
	m := make(map[string]any, len(ps))
	for _, p := range ps {
		m[p.Field] = p.Value.I
	}
	return m
}

func names(ps []libvirt.TypedParam) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field
	}
	return out
}

func uintParam(name string, v uint32) libvirt.TypedParam {
	return rpc.NewTypedParam(name, rpc.TypedParamUint, v)
}
