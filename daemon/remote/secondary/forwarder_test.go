package secondary

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

func procInfo(t *testing.T, name string) rpc.ProcInfo {
	t.Helper()
	for _, info := range rpc.RemoteProcedures() {
		if info.Name == "REMOTE_PROC_"+name {
			return info
		}
	}
	t.Fatalf("no procedure %s", name)
	return rpc.ProcInfo{}
}

func TestDriverOf(t *testing.T) {
	const none = Driver(-1)
	for _, c := range []struct {
		proc string
		want Driver
	}{
		{"CONNECT_LIST_ALL_NETWORKS", Network},
		{"NETWORK_CREATE_XML", Network},
		{"NETWORK_PORT_CREATE_XML", Network},
		{"CONNECT_NETWORK_EVENT_REGISTER_ANY", Network},
		{"NETWORK_EVENT_LIFECYCLE", Network},
		{"CONNECT_FIND_STORAGE_POOL_SOURCES", Storage},
		{"CONNECT_GET_STORAGE_POOL_CAPABILITIES", Storage},
		{"STORAGE_VOL_UPLOAD", Storage},
		{"STORAGE_POOL_LOOKUP_BY_VOLUME", Storage},
		{"NODE_LIST_DEVICES", NodeDev},
		{"NODE_NUM_OF_DEVICES", NodeDev},
		{"NODE_DEVICE_CREATE_XML", NodeDev},
		{"CONNECT_LIST_ALL_NODE_DEVICES", NodeDev},
		{"NODE_DEVICE_DETTACH", none},
		{"NODE_DEVICE_DETACH_FLAGS", none},
		{"NODE_DEVICE_RE_ATTACH", none},
		{"NODE_DEVICE_RESET", none},
		{"SECRET_GET_VALUE", Secret},
		{"CONNECT_LIST_ALL_SECRETS", Secret},
		{"INTERFACE_CHANGE_BEGIN", Interface},
		{"CONNECT_LIST_ALL_INTERFACES", Interface},
		{"NWFILTER_BINDING_CREATE_XML", NWFilter},
		{"CONNECT_LIST_ALL_NWFILTERS", NWFilter},
		{"CONNECT_LIST_ALL_NWFILTER_BINDINGS", NWFilter},
		{"DOMAIN_INTERFACE_STATS", none},
		{"DOMAIN_INTERFACE_ADDRESSES", none},
		{"DOMAIN_GET_INTERFACE_PARAMETERS", none},
		{"NODE_GET_INFO", none},
		{"NODE_GET_MEMORY_STATS", none},
		{"CONNECT_LIST_ALL_DOMAINS", none},
		{"CONNECT_OPEN", none},
		{"CONNECT_SET_IDENTITY", none},
	} {
		d, ok := DriverOf(procInfo(t, c.proc))
		if !ok {
			d = none
		}
		if d != c.want {
			t.Errorf("DriverOf(%s) = %v, want %v", c.proc, d, c.want)
		}
	}
}

// TestProcedures checks the size of each family against libvirt's own protocol, and that every event message
// of a forwarded family is relayed.
func TestProcedures(t *testing.T) {
	got := map[Driver]int{}
	for d, procs := range Procedures() {
		got[d] = len(procs)
	}
	// Counted in remote_protocol.x of the pinned release with gendispatch.pl's rule, event messages excluded.
	want := map[Driver]int{Interface: 16, Network: 33, NodeDev: 21, NWFilter: 14, Secret: 12, Storage: 45}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("procedures per driver %v, want %v", got, want)
	}
	for _, info := range rpc.RemoteProcedures() {
		if _, ok := DriverOf(info); ok && info.Message && newEventMsg(info.Number) == nil {
			t.Errorf("event message %s is not relayed", info.Name)
		}
	}
}

func TestForward(t *testing.T) {
	dir := t.TempDir()
	fake := startFakeDaemon(t, dir, "libvirt-sock") // a host with the monolithic libvirtd only
	fr := startFront(t, dir)
	c := connect(t, fr.rw)

	var nets libvirt.ConnectListAllNetworksRet
	if err := c.do(t, rpc.ProcConnectListAllNetworks, &libvirt.ConnectListAllNetworksArgs{NeedResults: 1}, &nets); err != nil {
		t.Fatal(err)
	}
	if len(nets.Nets) != 1 || nets.Nets[0].Name != "default" {
		t.Errorf("networks %+v", nets)
	}
	// The daemon's error comes back as it sent it.
	err := c.do(t, rpc.ProcNetworkLookupByName, &libvirt.NetworkLookupByNameArgs{Name: "nope"}, &libvirt.NetworkLookupByNameRet{})
	wantCode(t, err, rpc.CodeNoNetwork, "Network not found: no network with matching name 'nope'")
	if e := err.(*rpc.Error); e.Domain != 19 {
		t.Errorf("error domain %d, want the daemon's 19", e.Domain)
	}

	opens, idents := fake.record()
	uri := "network:///session"
	if privileged() {
		uri = "network:///system"
	}
	if len(opens) != 1 || opens[0].Name[0] != uri || opens[0].Flags != 0 {
		t.Errorf("the daemon was opened %+v, want once with %s read-write", opens, uri)
	}
	if len(idents) != 1 {
		t.Fatalf("identities passed on: %v", idents)
	}
	ident := map[string]any{}
	for _, p := range idents[0] {
		ident[p.Field] = p.Value.I
	}
	if ident[identUnixUserID] != uint64(os.Getuid()) || ident[identProcessID] != int64(os.Getpid()) ||
		ident[identUnixGroupID] != uint64(os.Getgid()) || ident[identProcessTime] == nil {
		t.Errorf("identity passed on %v, want this process's", ident)
	}

	// A second client gets a connection of its own; closing a client closes its connections.
	c2 := connect(t, fr.rw)
	if err := c2.do(t, rpc.ProcConnectListAllNetworks, &libvirt.ConnectListAllNetworksArgs{NeedResults: 1}, &nets); err != nil {
		t.Fatal(err)
	}
	if opens, _ = fake.record(); len(opens) != 2 {
		t.Errorf("%d opens for two clients", len(opens))
	}
	eventually(t, "two daemon clients", func() bool { return fake.srv.NumClients() == 2 })
	c2.Close()
	eventually(t, "the closed client's connection to close", func() bool { return fake.srv.NumClients() == 1 })
}

func TestForwardReadOnly(t *testing.T) {
	dir := t.TempDir()
	fake := startFakeDaemon(t, dir, "virtnetworkd-sock-ro")
	fr := startFront(t, dir)
	c := connect(t, fr.ro)
	var nets libvirt.ConnectListAllNetworksRet
	if err := c.do(t, rpc.ProcConnectListAllNetworks, &libvirt.ConnectListAllNetworksArgs{NeedResults: 1}, &nets); err != nil {
		t.Fatal(err)
	}
	if opens, _ := fake.record(); len(opens) != 1 || opens[0].Flags != libvirt.ConnectRo {
		t.Errorf("the daemon was opened %+v, want once read-only", opens)
	}
	// A change is refused before it is forwarded; the daemon would refuse it too.
	err := c.do(t, rpc.ProcNetworkCreate, &libvirt.NetworkCreateArgs{Net: testNet}, nil)
	wantCode(t, err, rpc.CodeOperationDenied, "operation forbidden: read only access prevents virNetworkCreate")
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	fr := startFront(t, dir)
	c := connect(t, fr.rw)
	err := c.do(t, rpc.ProcConnectListAllStoragePools, &libvirt.ConnectListAllStoragePoolsArgs{NeedResults: 1}, nil)
	want := "Failed to connect socket to '" + filepath.Join(dir, "virtstoraged-sock") + "': No such file or directory"
	wantCode(t, err, rpc.CodeSystemError, want)
	if e := err.(*rpc.Error); e.Domain != rpc.DomainRPC {
		t.Errorf("error domain %d, want VIR_FROM_RPC", e.Domain)
	}
	// A daemon that appears later is used: failures are not remembered.
	startFakeDaemon(t, dir, "virtnetworkd-sock")
	if err := c.do(t, rpc.ProcConnectListAllNetworks, &libvirt.ConnectListAllNetworksArgs{NeedResults: 1}, &libvirt.ConnectListAllNetworksRet{}); err != nil {
		t.Fatal(err)
	}
}

func TestSetIdentity(t *testing.T) {
	dir := t.TempDir()
	fake := startFakeDaemon(t, dir, "libvirt-sock")
	fr := startFront(t, dir)
	c := connect(t, fr.rw)
	err := c.do(t, rpc.ProcConnectSetIdentity, &libvirt.ConnectSetIdentityArgs{Params: []libvirt.TypedParam{
		rpc.NewTypedParam("user-id", rpc.TypedParamULLong, uint64(5))}}, nil)
	wantCode(t, err, rpc.CodeArgumentUnsupported, "argument unsupported: parameter 'user-id' not supported")
	err = c.do(t, rpc.ProcConnectSetIdentity, &libvirt.ConnectSetIdentityArgs{Params: []libvirt.TypedParam{
		rpc.NewTypedParam(identUnixUserID, rpc.TypedParamUint, uint32(5))}}, nil)
	wantCode(t, err, rpc.CodeInvalidArg, "invalid argument: invalid type 'uint' for parameter 'unix-user-id', expected 'ullong'")
	ident := []libvirt.TypedParam{
		rpc.NewTypedParam(identUserName, rpc.TypedParamString, "alice"),
		rpc.NewTypedParam(identUnixUserID, rpc.TypedParamULLong, uint64(1000)),
		rpc.NewTypedParam(identProcessID, rpc.TypedParamLLong, int64(4242)),
	}
	if err := c.do(t, rpc.ProcConnectSetIdentity, &libvirt.ConnectSetIdentityArgs{Params: ident}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.do(t, rpc.ProcConnectListAllNetworks, &libvirt.ConnectListAllNetworksArgs{NeedResults: 1}, &libvirt.ConnectListAllNetworksRet{}); err != nil {
		t.Fatal(err)
	}
	if _, idents := fake.record(); len(idents) != 1 || !reflect.DeepEqual(idents[0], ident) {
		t.Errorf("identity passed on %v, want the one set %v", idents, ident)
	}
	// A read-only client may not speak for another.
	ro := connect(t, fr.ro)
	err = ro.do(t, rpc.ProcConnectSetIdentity, &libvirt.ConnectSetIdentityArgs{Params: ident}, nil)
	wantCode(t, err, rpc.CodeOperationDenied, "operation forbidden: read only access prevents virConnectSetIdentity")
}

func TestEvents(t *testing.T) {
	dir := t.TempDir()
	startFakeDaemon(t, dir, "libvirt-sock")
	fr := startFront(t, dir)
	c := connect(t, fr.rw)
	var reg libvirt.ConnectNetworkEventRegisterAnyRet
	if err := c.do(t, rpc.ProcConnectNetworkEventRegisterAny, &libvirt.ConnectNetworkEventRegisterAnyArgs{}, &reg); err != nil {
		t.Fatal(err)
	}
	if err := c.do(t, rpc.ProcNetworkCreate, &libvirt.NetworkCreateArgs{Net: testNet}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-c.events:
		var msg libvirt.NetworkEventLifecycleMsg
		if err := rpc.Unmarshal(p.body, &msg); err != nil {
			t.Fatal(err)
		}
		if p.h.Procedure != rpc.ProcNetworkEventLifecycle || msg.CallbackID != reg.CallbackID || msg.Net.Name != "default" || msg.Event != 2 {
			t.Errorf("event %v %+v, want a lifecycle event of callback %d", p.h, msg, reg.CallbackID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}

func TestStreams(t *testing.T) {
	dir := t.TempDir()
	fake := startFakeDaemon(t, dir, "libvirt-sock")
	fr := startFront(t, dir)
	c := connect(t, fr.rw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vol := libvirt.StorageVol{Pool: "p", Name: "v", Key: "/p/v"}
	streamCall := func(proc int32, args any) (uint32, chan packet) {
		t.Helper()
		serial, reply, in, err := c.begin(true)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := rpc.Marshal(args)
		if _, err := c.roundTrip(ctx, proc, serial, body, reply); err != nil {
			t.Fatal(err)
		}
		return serial, in
	}
	send := func(proc int32, serial uint32, status rpc.Status, body []byte) {
		t.Helper()
		if err := c.write(rpc.Header{Program: rpc.ProgramRemote, Version: 1, Procedure: proc, Type: rpc.TypeStream,
			Serial: serial, Status: status}, body); err != nil {
			t.Fatal(err)
		}
	}
	next := func(in chan packet) packet {
		t.Helper()
		select {
		case p := <-in:
			return p
		case <-ctx.Done():
			t.Fatal("stream stalled")
			return packet{}
		}
	}

	serial, in := streamCall(rpc.ProcStorageVolDownload, &libvirt.StorageVolDownloadArgs{Vol: vol})
	if p := next(in); p.h.Status != rpc.StatusContinue || string(p.body) != "volume data" {
		t.Fatalf("download: %v %q", p.h, p.body)
	}
	if p := next(in); p.h.Status != rpc.StatusContinue || len(p.body) != 0 {
		t.Fatalf("download end: %v %q", p.h, p.body)
	}
	send(rpc.ProcStorageVolDownload, serial, rpc.StatusOK, nil)
	if p := next(in); p.h.Status != rpc.StatusOK {
		t.Fatalf("download finish: %v", p.h)
	}
	c.end(serial)

	serial, in = streamCall(rpc.ProcStorageVolUpload, &libvirt.StorageVolUploadArgs{Vol: vol})
	send(rpc.ProcStorageVolUpload, serial, rpc.StatusContinue, []byte("new "))
	send(rpc.ProcStorageVolUpload, serial, rpc.StatusContinue, []byte("contents"))
	send(rpc.ProcStorageVolUpload, serial, rpc.StatusOK, nil)
	if p := next(in); p.h.Status != rpc.StatusOK {
		t.Fatalf("upload finish: %v", p.h)
	}
	eventually(t, "the upload to reach the daemon", func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return string(fake.uploaded) == "new contents"
	})
}
