package secondary

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// testNet is the network the fake daemon knows.
var testNet = libvirt.Network{Name: "default", UUID: libvirt.UUID{0x11, 0x22}}

// fakeDaemon is a libvirt daemon serving a little of the network and storage drivers, recording what its
// clients did. It is built from this project's own RPC server.
type fakeDaemon struct {
	srv *rpc.Server

	mu       sync.Mutex
	opens    []rpc.ConnectOpenArgs
	idents   [][]libvirt.TypedParam
	uploaded []byte
}

// program is the fake daemon's REMOTE program.
func (d *fakeDaemon) program() *rpc.Program {
	p := rpc.NewRemoteProgram(nil)
	rpc.Register(p, rpc.ProcConnectOpen, func(_ context.Context, call *rpc.Call, a *rpc.ConnectOpenArgs) (*struct{}, error) {
		d.mu.Lock()
		d.opens = append(d.opens, *a)
		d.mu.Unlock()
		if a.Flags&libvirt.ConnectRo != 0 {
			call.Client.SetReadOnly()
		}
		call.Client.SetOpened(true)
		return nil, nil
	}, rpc.PreOpen(true), rpc.ReadOnlyOK(true))
	rpc.Register(p, rpc.ProcConnectSetIdentity, func(_ context.Context, _ *rpc.Call, a *libvirt.ConnectSetIdentityArgs) (*struct{}, error) {
		d.mu.Lock()
		d.idents = append(d.idents, a.Params)
		d.mu.Unlock()
		return nil, nil
	}, rpc.ReadOnlyOK(true))
	rpc.Register(p, rpc.ProcConnectListAllNetworks, func(context.Context, *rpc.Call, *libvirt.ConnectListAllNetworksArgs) (*libvirt.ConnectListAllNetworksRet, error) {
		return &libvirt.ConnectListAllNetworksRet{Nets: []libvirt.Network{testNet}, Ret: 1}, nil
	})
	rpc.Register(p, rpc.ProcNetworkLookupByName, func(_ context.Context, _ *rpc.Call, a *libvirt.NetworkLookupByNameArgs) (*libvirt.NetworkLookupByNameRet, error) {
		if a.Name != testNet.Name {
			return nil, rpc.Errorf(rpc.CodeNoNetwork, 19, "no network with matching name '%s'", a.Name)
		}
		return &libvirt.NetworkLookupByNameRet{Net: testNet}, nil
	})
	rpc.Register(p, rpc.ProcConnectNetworkEventRegisterAny, func(context.Context, *rpc.Call, *libvirt.ConnectNetworkEventRegisterAnyArgs) (*libvirt.ConnectNetworkEventRegisterAnyRet, error) {
		return &libvirt.ConnectNetworkEventRegisterAnyRet{CallbackID: 7}, nil
	})
	rpc.Register(p, rpc.ProcNetworkCreate, func(_ context.Context, call *rpc.Call, a *libvirt.NetworkCreateArgs) (*struct{}, error) {
		err := call.Client.SendEvent(rpc.ProgramRemote, rpc.ProcNetworkEventLifecycle,
			&libvirt.NetworkEventLifecycleMsg{CallbackID: 7, Net: a.Net, Event: 2})
		return nil, err
	})
	rpc.Register(p, rpc.ProcStorageVolDownload, func(_ context.Context, call *rpc.Call, _ *libvirt.StorageVolDownloadArgs) (*struct{}, error) {
		st := call.OpenStream()
		go func() {
			_, _ = st.Write([]byte("volume data"))
			_ = st.CloseWrite()
		}()
		return nil, nil
	})
	rpc.Register(p, rpc.ProcStorageVolUpload, func(_ context.Context, call *rpc.Call, _ *libvirt.StorageVolUploadArgs) (*struct{}, error) {
		st := call.OpenStream()
		go func() {
			b, _ := io.ReadAll(st)
			d.mu.Lock()
			d.uploaded = b
			d.mu.Unlock()
		}()
		return nil, nil
	})
	return p
}

// startFakeDaemon serves a fake daemon on dir/name.
func startFakeDaemon(t *testing.T, dir, name string) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{}
	d.srv = rpc.NewServer(rpc.Options{Name: "fake"}, d.program())
	serve(t, d.srv, filepath.Join(dir, name), false)
	return d
}

func (d *fakeDaemon) record() ([]rpc.ConnectOpenArgs, [][]libvirt.TypedParam) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]rpc.ConnectOpenArgs(nil), d.opens...), append([][]libvirt.TypedParam(nil), d.idents...)
}

// serve listens on path and serves srv there until the test ends.
func serve(t *testing.T, srv *rpc.Server, path string, readOnly bool) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, l, rpc.ListenerOpts{ReadOnly: readOnly}) }()
	t.Cleanup(func() { cancel(); <-done; _ = srv.Close() })
}

// front is a virtxend: CONNECT_OPEN plus the forwarder, on a read-write and a read-only socket.
type front struct {
	rw, ro string
	srv    *rpc.Server
}

func startFront(t *testing.T, sockDir string) *front {
	t.Helper()
	p := rpc.NewRemoteProgram(nil)
	rpc.Register(p, rpc.ProcConnectOpen, func(_ context.Context, call *rpc.Call, a *rpc.ConnectOpenArgs) (*struct{}, error) {
		if a.Flags&libvirt.ConnectRo != 0 {
			call.Client.SetReadOnly()
		}
		call.Client.SetOpened(true)
		return nil, nil
	}, rpc.PreOpen(true), rpc.ReadOnlyOK(true))
	New(Options{SocketDir: sockDir}).Register(p)
	dir := t.TempDir()
	f := &front{rw: filepath.Join(dir, "virtxend-sock"), ro: filepath.Join(dir, "virtxend-sock-ro")}
	f.srv = rpc.NewServer(rpc.Options{Name: "virtxend"}, p)
	serve(t, f.srv, f.rw, false)
	serve(t, f.srv, f.ro, true)
	return f
}

// testClient is a client of the front, built from the package's own upstream connection.
type testClient struct {
	*upstream
	events chan packet
}

// connect opens a client of the front at path.
func connect(t *testing.T, path string) *testClient {
	t.Helper()
	c := &testClient{events: make(chan packet, 16)}
	u, err := dialUpstream(context.Background(), path, func(h rpc.Header, body []byte) { c.events <- packet{h, body} })
	if err != nil {
		t.Fatal(err)
	}
	c.upstream = u
	t.Cleanup(u.Close)
	if err := u.callXDR(context.Background(), rpc.ProcConnectOpen, &rpc.ConnectOpenArgs{Name: libvirt.OptString{"xen:///system"}}, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// do calls proc with args, decoding the reply into ret.
func (c *testClient) do(t *testing.T, proc int32, args, ret any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.callXDR(ctx, proc, args, ret)
}

// wantCode fails the test unless err is a libvirt error with code and message.
func wantCode(t *testing.T, err error, code rpc.Code, msg string) {
	t.Helper()
	e, ok := err.(*rpc.Error)
	if !ok || e.Code != code || (msg != "" && e.Message != msg) {
		t.Fatalf("error %v (%T), want code %d %q", err, err, code, msg)
	}
}

// eventually polls cond for a while.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// privileged says whether the tests run as root, which makes the fake daemons privileged peers.
func privileged() bool { return os.Geteuid() == 0 }
