package admin_test

import (
	"errors"
	"io"
	"net"
	"os"
	"os/user"
	"reflect"
	"strconv"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/admin"
	"github.com/virtxend/virtxend/daemon/remote"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// wantError checks that err is the libvirt error (code, domain, message).
func wantError(t *testing.T, err error, code rpc.Code, domain rpc.ErrorDomain, msg string) {
	t.Helper()
	var e *rpc.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want error %d %q", err, code, msg)
	}
	if e.Code != code || e.Domain != domain || e.Message != msg {
		t.Fatalf("got error code %d domain %d %q, want code %d domain %d %q", e.Code, e.Domain, e.Message, code, domain, msg)
	}
}

func TestConnectOpen(t *testing.T) {
	e := newEnv(t)
	c := dial(t, e.adminSock, rpc.ProgramAdmin)
	var ver admin.ConnectGetLibVersionRet
	wantError(t, c.call(rpc.AdminProcConnectGetLibVersion, nil, &ver), rpc.CodeInternalError, rpc.DomainRPC,
		"internal error: hypervisor connection not open")
	wantError(t, c.call(rpc.AdminProcConnectOpen, &admin.ConnectOpenArgs{Flags: 4}, nil), rpc.CodeInvalidArg, rpc.DomainAdmin,
		"invalid argument: unsupported flags (0x4) in function adminDispatchConnectOpen")
	c.must(rpc.AdminProcConnectOpen, &admin.ConnectOpenArgs{}, nil)
	c.must(rpc.AdminProcConnectGetLibVersion, nil, &ver)
	if ver.LibVer != remote.LibVersion {
		t.Errorf("lib version %d, want %d", ver.LibVer, remote.LibVersion)
	}
}

func TestServers(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	var list admin.ConnectListServersRet
	c.must(rpc.AdminProcConnectListServers, &admin.ConnectListServersArgs{NeedResults: 1}, &list)
	want := []admin.NonnullServer{{Name: "virtxend"}, {Name: "admin"}}
	if !reflect.DeepEqual(list.Servers, want) || list.Ret != 2 {
		t.Errorf("servers %+v (ret %d), want %+v", list.Servers, list.Ret, want)
	}
	list = admin.ConnectListServersRet{}
	c.must(rpc.AdminProcConnectListServers, &admin.ConnectListServersArgs{}, &list)
	if len(list.Servers) != 0 || list.Ret != 2 {
		t.Errorf("count only: servers %+v ret %d", list.Servers, list.Ret)
	}
	wantError(t, c.call(rpc.AdminProcConnectListServers, &admin.ConnectListServersArgs{NeedResults: 1, Flags: 1}, &list),
		rpc.CodeInvalidArg, rpc.DomainAdmin, "invalid argument: unsupported flags (0x1) in function adminConnectListServers")

	var found admin.ConnectLookupServerRet
	c.must(rpc.AdminProcConnectLookupServer, &admin.ConnectLookupServerArgs{Name: "admin", Flags: 7}, &found)
	if found.Srv.Name != "admin" {
		t.Errorf("lookup admin: %+v", found)
	}
	wantError(t, c.call(rpc.AdminProcConnectLookupServer, &admin.ConnectLookupServerArgs{Name: "libvirtd"}, &found),
		rpc.CodeNoServer, rpc.DomainRPC, "Server not found: No server named 'libvirtd'")
}

func TestThreadPool(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	get := func(name string) map[string]any {
		t.Helper()
		var ret admin.ServerGetThreadpoolParametersRet
		c.must(rpc.AdminProcServerGetThreadpoolParameters, &admin.ServerGetThreadpoolParametersArgs{Srv: admin.NonnullServer{Name: name}}, &ret)
		wantNames := []string{"minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers", "jobQueueDepth"}
		if got := names(ret.Params); !reflect.DeepEqual(got, wantNames) {
			t.Fatalf("parameters %v, want %v", got, wantNames)
		}
		return params(ret.Params)
	}
	want := map[string]any{"minWorkers": uint32(5), "maxWorkers": uint32(20), "nWorkers": uint32(0), "freeWorkers": uint32(0),
		"prioWorkers": uint32(5), "jobQueueDepth": uint32(0)}
	if got := get("virtxend"); !reflect.DeepEqual(got, want) {
		t.Errorf("virtxend pool %v, want %v", got, want)
	}
	if got := get("admin")["prioWorkers"]; got != uint32(0) {
		t.Errorf("admin prioWorkers %v, want 0", got)
	}

	set := func(name string, ps ...libvirt.TypedParam) error {
		return c.call(rpc.AdminProcServerSetThreadpoolParameters,
			&admin.ServerSetThreadpoolParametersArgs{Srv: admin.NonnullServer{Name: name}, Params: ps}, nil)
	}
	if err := set("virtxend", uintParam("minWorkers", 2), uintParam("maxWorkers", 10)); err != nil {
		t.Fatal(err)
	}
	if err := set("virtxend", uintParam("prioWorkers", 7)); err != nil {
		t.Fatal(err)
	}
	want["minWorkers"], want["maxWorkers"], want["prioWorkers"] = uint32(2), uint32(10), uint32(7)
	if got := get("virtxend"); !reflect.DeepEqual(got, want) {
		t.Errorf("after set: %v, want %v", got, want)
	}
	// The new sizes bound the server's calls, not just the figures reported.
	if w := e.remote.Workers(); w.Max != 10 || w.Prio != 7 {
		t.Errorf("the server's workers after set: %+v, want max 10, prio 7", w)
	}

	for _, tc := range []struct {
		name   string
		server string
		params []libvirt.TypedParam
		code   rpc.Code
		domain rpc.ErrorDomain
		msg    string
	}{
		{"min above max", "virtxend", []libvirt.TypedParam{uintParam("minWorkers", 11)},
			rpc.CodeInvalidArg, rpc.DomainNone, "invalid argument: minWorkers cannot be larger than maxWorkers"},
		{"max to zero", "virtxend", []libvirt.TypedParam{uintParam("minWorkers", 0), uintParam("maxWorkers", 0)},
			rpc.CodeInvalidArg, rpc.DomainNone, "invalid argument: maxWorkers must not be switched from zero to non-zero and vice versa"},
		{"read-only parameter", "virtxend", []libvirt.TypedParam{uintParam("nWorkers", 3)},
			rpc.CodeArgumentUnsupported, rpc.DomainNone, "argument unsupported: parameter 'nWorkers' not supported"},
		{"wrong type", "virtxend", []libvirt.TypedParam{rpc.NewTypedParam("maxWorkers", rpc.TypedParamULLong, 3)},
			rpc.CodeInvalidArg, rpc.DomainNone, "invalid argument: invalid type 'ullong' for parameter 'maxWorkers', expected 'uint'"},
		{"twice", "virtxend", []libvirt.TypedParam{uintParam("maxWorkers", 3), uintParam("maxWorkers", 4)},
			rpc.CodeInvalidArg, rpc.DomainNone, "invalid argument: parameter 'maxWorkers' occurs multiple times"},
		{"unknown server", "libvirtd", []libvirt.TypedParam{uintParam("maxWorkers", 3)},
			rpc.CodeNoServer, rpc.DomainAdmin, "Server not found: no server with matching name 'libvirtd' found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, set(tc.server, tc.params...), tc.code, tc.domain, tc.msg)
		})
	}
	if got := get("virtxend"); !reflect.DeepEqual(got, want) {
		t.Errorf("failed sets changed the pool: %v, want %v", got, want)
	}
	var ret admin.ServerGetThreadpoolParametersRet
	wantError(t, c.call(rpc.AdminProcServerGetThreadpoolParameters, &admin.ServerGetThreadpoolParametersArgs{Srv: admin.NonnullServer{Name: "x"}}, &ret),
		rpc.CodeNoServer, rpc.DomainRPC, "Server not found: No server named 'x'")
}

func TestClients(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	before := time.Now().Unix()
	rc := e.remoteClient(t)

	var list admin.ServerListClientsRet
	c.must(rpc.AdminProcServerListClients, &admin.ServerListClientsArgs{Srv: admin.NonnullServer{Name: "virtxend"}, NeedResults: 1}, &list)
	if list.Ret != 1 || len(list.Clients) != 1 {
		t.Fatalf("clients %+v", list)
	}
	cl := list.Clients[0]
	if cl.Srv.Name != "virtxend" || cl.Transport != 0 || cl.Timestamp < before || cl.Timestamp > time.Now().Unix() {
		t.Errorf("client %+v", cl)
	}

	var found admin.ServerLookupClientRet
	c.must(rpc.AdminProcServerLookupClient, &admin.ServerLookupClientArgs{Srv: cl.Srv, ID: cl.ID}, &found)
	if found.Clnt != cl {
		t.Errorf("lookup %+v, want %+v", found.Clnt, cl)
	}
	wantError(t, c.call(rpc.AdminProcServerLookupClient, &admin.ServerLookupClientArgs{Srv: cl.Srv, ID: 999999}, &found),
		rpc.CodeNoClient, rpc.DomainRPC, "Client not found: No client with matching ID '999999'")

	var info admin.ClientGetInfoRet
	c.must(rpc.AdminProcClientGetInfo, &admin.ClientGetInfoArgs{Clnt: cl}, &info)
	wantNames := []string{"readonly", "unix_user_id", "unix_user_name", "unix_group_id", "unix_group_name", "unix_process_id"}
	if got := names(info.Params); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("info parameters %v, want %v", got, wantNames)
	}
	u, _ := user.LookupId(strconv.Itoa(os.Getuid()))
	g, _ := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	want := map[string]any{"readonly": int32(0), "unix_user_id": int32(os.Getuid()), "unix_user_name": u.Username,
		"unix_group_id": int32(os.Getgid()), "unix_group_name": g.Name, "unix_process_id": int32(os.Getpid())}
	if got := params(info.Params); !reflect.DeepEqual(got, want) {
		t.Errorf("info %v, want %v", got, want)
	}
	if d := info.Params[0].Value.D; d != rpc.TypedParamBoolean {
		t.Errorf("readonly has type %d, want boolean", d)
	}
	gone := cl
	gone.ID = 999999
	wantError(t, c.call(rpc.AdminProcClientGetInfo, &admin.ClientGetInfoArgs{Clnt: gone}, &info),
		rpc.CodeNoClient, rpc.DomainAdmin, "Client not found: no client with matching id '999999' found")

	c.must(rpc.AdminProcClientClose, &admin.ClientCloseArgs{Clnt: cl}, nil)
	_ = rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Errorf("the disconnected client reads %v, want EOF", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.remote.NumClients() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wantError(t, c.call(rpc.AdminProcClientClose, &admin.ClientCloseArgs{Clnt: cl}, nil),
		rpc.CodeNoClient, rpc.DomainRPC, "Client not found: No client with matching ID '"+strconv.FormatUint(cl.ID, 10)+"'")
}

func TestClientLimits(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	e.remoteClient(t)
	get := func(name string) map[string]any {
		t.Helper()
		var ret admin.ServerGetClientLimitsRet
		c.must(rpc.AdminProcServerGetClientLimits, &admin.ServerGetClientLimitsArgs{Srv: admin.NonnullServer{Name: name}}, &ret)
		if got, want := names(ret.Params), []string{"nclients_max", "nclients", "nclients_unauth_max", "nclients_unauth"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("parameters %v, want %v", got, want)
		}
		return params(ret.Params)
	}
	want := map[string]any{"nclients_max": uint32(5000), "nclients": uint32(1), "nclients_unauth_max": uint32(20), "nclients_unauth": uint32(0)}
	if got := get("virtxend"); !reflect.DeepEqual(got, want) {
		t.Errorf("virtxend limits %v, want %v", got, want)
	}
	if got := get("admin")["nclients_unauth_max"]; got != uint32(0) {
		t.Errorf("admin nclients_unauth_max %v, want 0", got)
	}
	set := func(ps ...libvirt.TypedParam) error {
		return c.call(rpc.AdminProcServerSetClientLimits, &admin.ServerSetClientLimitsArgs{Srv: admin.NonnullServer{Name: "virtxend"}, Params: ps}, nil)
	}
	wantError(t, set(uintParam("nclients_max", 10), uintParam("nclients_unauth_max", 30)), rpc.CodeInvalidArg, rpc.DomainRPC,
		"invalid argument: The overall maximum number of clients must not be less than the number of clients waiting for authentication")
	wantError(t, set(uintParam("nclients", 10)), rpc.CodeArgumentUnsupported, rpc.DomainNone,
		"argument unsupported: parameter 'nclients' not supported")
	wantError(t, set(uintParam("nclients_max", 0), uintParam("nclients_unauth_max", 0)), rpc.CodeInvalidArg, rpc.DomainRPC,
		"invalid argument: nclients_max must be at least 1")
	if err := set(uintParam("nclients_max", 1), uintParam("nclients_unauth_max", 1)); err != nil {
		t.Fatal(err)
	}
	want["nclients_max"], want["nclients_unauth_max"] = uint32(1), uint32(1)
	if got := get("virtxend"); !reflect.DeepEqual(got, want) {
		t.Errorf("after set %v, want %v", got, want)
	}
	// The limit holds at once: a second client is turned away.
	nc, err := net.Dial("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("a client over the limit reads %v, want EOF", err)
	}
}

func TestUpdateTLSFiles(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	wantError(t, c.call(rpc.AdminProcServerUpdateTlsFiles, &admin.ServerUpdateTLSFilesArgs{Srv: admin.NonnullServer{Name: "virtxend"}}, nil),
		rpc.CodeInternalError, rpc.DomainRPC, "internal error: no tls service found, unable to update tls files")
}

func TestLogging(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	var outs admin.ConnectGetLoggingOutputsRet
	c.must(rpc.AdminProcConnectGetLoggingOutputs, &admin.ConnectGetLoggingOutputsArgs{}, &outs)
	if outs.Outputs != "3:stderr" || outs.Noutputs != 1 {
		t.Errorf("outputs %+v", outs)
	}
	var fs admin.ConnectGetLoggingFiltersRet
	c.must(rpc.AdminProcConnectGetLoggingFilters, &admin.ConnectGetLoggingFiltersArgs{}, &fs)
	if fs.Filters != nil || fs.Nfilters != 0 {
		t.Errorf("filters %+v, want none", fs)
	}

	c.must(rpc.AdminProcConnectSetLoggingFilters, &admin.ConnectSetLoggingFiltersArgs{Filters: libvirt.OptString{"1:libxl 3:remote"}}, nil)
	c.must(rpc.AdminProcConnectGetLoggingFilters, &admin.ConnectGetLoggingFiltersArgs{}, &fs)
	if !reflect.DeepEqual(fs.Filters, libvirt.OptString{"1:libxl 3:remote"}) || fs.Nfilters != 2 {
		t.Errorf("filters %+v", fs)
	}
	err := c.call(rpc.AdminProcConnectSetLoggingFilters, &admin.ConnectSetLoggingFiltersArgs{Filters: libvirt.OptString{"9:libxl"}}, nil)
	wantError(t, err, rpc.CodeInvalidArg, rpc.DomainNone,
		`invalid argument: filter "9:libxl": level "9" is not 1 (debug), 2 (info), 3 (warning) or 4 (error)`)

	c.must(rpc.AdminProcConnectSetLoggingOutputs, &admin.ConnectSetLoggingOutputsArgs{Outputs: libvirt.OptString{"1:file:/tmp/x.log 4:stderr"}}, nil)
	c.must(rpc.AdminProcConnectGetLoggingOutputs, &admin.ConnectGetLoggingOutputsArgs{}, &outs)
	if outs.Outputs != "1:file:/tmp/x.log 4:stderr" || outs.Noutputs != 2 {
		t.Errorf("outputs %+v", outs)
	}
	c.must(rpc.AdminProcConnectSetLoggingOutputs, &admin.ConnectSetLoggingOutputsArgs{}, nil)
	c.must(rpc.AdminProcConnectGetLoggingOutputs, &admin.ConnectGetLoggingOutputsArgs{}, &outs)
	if outs.Outputs != "3:stderr" {
		t.Errorf("no outputs should restore the default: %+v", outs)
	}
	wantError(t, c.call(rpc.AdminProcConnectGetLoggingOutputs, &admin.ConnectGetLoggingOutputsArgs{Flags: 2}, &outs),
		rpc.CodeInvalidArg, rpc.DomainAdmin, "invalid argument: unsupported flags (0x2) in function adminConnectGetLoggingOutputs")
}

func TestDaemonTimeoutAndShutdown(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient(t)
	c.must(rpc.AdminProcConnectSetDaemonTimeout, &admin.ConnectSetDaemonTimeoutArgs{Timeout: 42}, nil)
	e.d.mu.Lock()
	got := e.d.timeout
	e.d.mu.Unlock()
	if got != 42*time.Second {
		t.Errorf("timeout %v, want 42s", got)
	}
	wantError(t, c.call(rpc.AdminProcConnectDaemonShutdown, &admin.ConnectDaemonShutdownArgs{Flags: 2}, nil),
		rpc.CodeInvalidArg, rpc.DomainAdmin, "invalid argument: unsupported flags (0x2) in function adminConnectDaemonShutdown")
	select {
	case <-e.d.shutdown:
		t.Fatal("shutdown on a refused call")
	default:
	}
	c.must(rpc.AdminProcConnectDaemonShutdown, &admin.ConnectDaemonShutdownArgs{Flags: admin.DaemonShutdownPreserve}, nil)
	select {
	case preserve := <-e.d.shutdown:
		if !preserve {
			t.Error("preserve lost")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown")
	}
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after daemon-shutdown the admin client reads %v, want EOF", err)
	}
}
