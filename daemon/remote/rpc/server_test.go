package rpc

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// TestFramingErrorsCloseOnlyThatConnection sends broken framing on one connection while a go-libvirt client
// keeps working on another.
func TestFramingErrorsCloseOnlyThatConnection(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	l := dialLibvirt(t, ts.path)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"length 8", append(lengthWord(8), make([]byte, 8)...)},
		{"length 27", append(lengthWord(27), make([]byte, 40)...)},
		{"length 0x7fffffff", lengthWord(0x7fffffff)},
		{"length 32 MiB + 1", lengthWord(MaxPacketSize + 1)},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, ts.path)
			r.open(0)
			if _, err := r.nc.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			r.expectClosed()
			if typ, err := l.ConnectGetType(); err != nil || typ != "Xen" {
				t.Fatalf("other client broken: %q %v", typ, err)
			}
		})
	}
	t.Run("truncated packet then EOF", func(t *testing.T) {
		r := dialRaw(t, ts.path)
		pkt, _ := AppendPacket(nil, Header{Program: ProgramRemote, Version: 1, Procedure: ProcConnectGetType}, make([]byte, 100))
		_, _ = r.nc.Write(pkt[:60])
		_ = r.nc.(*net.UnixConn).CloseWrite()
		r.expectClosed()
		if _, err := l.ConnectGetType(); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, "broken clients to go", func() bool { return ts.srv.NumClients() == 1 })
}

func TestErrorReplies(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)

	// Before CONNECT_OPEN only the pre-open procedures work.
	err := r.call(ProgramRemote, ProcConnectGetType, struct{}{}, nil)
	if e := asError(t, err); e.Code != CodeInternalError || e.Message != "internal error: hypervisor connection not open" {
		t.Fatalf("before open: %+v", e)
	}
	var feat libvirt.ConnectSupportsFeatureRet
	if err := r.call(ProgramRemote, ProcConnectSupportsFeature, &libvirt.ConnectSupportsFeatureArgs{Feature: FeatureProgramKeepalive}, &feat); err != nil || feat.Supported != 1 {
		t.Fatalf("keepalive probe before open: %+v %v", feat, err)
	}
	r.open(0)

	for _, tc := range []struct {
		name   string
		prog   uint32
		vers   uint32
		proc   int32
		body   []byte
		code   Code
		domain ErrorDomain
		msg    string
	}{
		{"unknown program", 0x12345678, 1, 1, nil, CodeRPC, DomainRPC, "Cannot find program 305419896 version 1"},
		{"wrong version", ProgramRemote, 2, ProcConnectGetType, nil, CodeRPC, DomainRPC, "Cannot find program 536903814 version 2"},
		{"keepalive program called", ProgramKeepalive, 1, ProcKeepalivePing, nil, CodeRPC, DomainRPC, "Cannot find program 1801807216 version 1"},
		{"unknown procedure", ProgramRemote, 1, 9999, nil, CodeRPC, DomainRPC, "unknown procedure: 9999"},
		{"negative procedure", ProgramRemote, 1, -1, nil, CodeRPC, DomainRPC, "unknown procedure: -1"},
		{"event message called", ProgramRemote, 1, ProcDomainEventCallbackLifecycle, nil, CodeRPC, DomainRPC, "unknown procedure: 318"},
		{"known, not implemented", ProgramRemote, 1, ProcDomainGetHostname, nil, CodeNoSupport, DomainDomain,
			"this function is not supported by the connection driver: virDomainGetHostname"},
		{"host API not implemented", ProgramRemote, 1, ProcConnectGetSysinfo, nil, CodeNoSupport, DomainNone,
			"this function is not supported by the connection driver: virConnectGetSysinfo"},
		{"malformed body", ProgramRemote, 1, ProcDomainLookupByName, []byte{0, 0, 1, 0}, CodeRPC, DomainRPC, "Unable to decode message payload"},
		{"admin procedure not implemented", ProgramAdmin, 1, AdminProcConnectGetLibVersion, nil, CodeNoSupport, DomainAdmin,
			"this function is not supported by the connection driver: virAdmConnectGetLibVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.serial++
			r.send(Header{Program: tc.prog, Version: tc.vers, Procedure: tc.proc, Type: TypeCall, Serial: r.serial}, tc.body)
			h, body := r.mustRecv()
			want := Header{Program: tc.prog, Version: tc.vers, Procedure: tc.proc, Type: TypeReply, Serial: r.serial, Status: StatusError}
			if h != want {
				t.Fatalf("header %s, want %s", h, want)
			}
			e, err := UnmarshalError(body)
			if err != nil {
				t.Fatal(err)
			}
			if e.Code != tc.code || e.Domain != tc.domain || e.Message != tc.msg || e.Level != LevelError {
				t.Fatalf("got %+v", e)
			}
		})
	}
	// Non-call messages nobody can place are dropped without an answer, as libvirt does.
	r.send(Header{Program: ProgramRemote, Version: 1, Procedure: ProcConnectGetType, Type: TypeReply, Serial: 77}, nil)
	r.send(Header{Program: 0x1, Version: 1, Procedure: 1, Type: TypeMessage, Serial: 78}, nil)
	r.send(Header{Program: ProgramRemote, Version: 1, Procedure: ProcDomainScreenshot, Type: TypeStream, Serial: 79, Status: StatusContinue}, []byte("data"))
	var typ libvirt.ConnectGetTypeRet
	if err := r.call(ProgramRemote, ProcConnectGetType, struct{}{}, &typ); err != nil || typ.Type != "Xen" {
		t.Fatalf("connection unusable after errors: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	t.Run("read-only socket", func(t *testing.T) {
		ts := startServer(t, Options{}, ListenerOpts{ReadOnly: true})
		r := dialRaw(t, ts.path)
		r.open(0)
		checkReadOnly(t, r)
		if cs := ts.srv.Clients(); len(cs) != 1 || !cs[0].Info().ReadOnly {
			t.Fatal("client not reported read-only")
		}
	})
	t.Run("VIR_CONNECT_RO on the read-write socket", func(t *testing.T) {
		ts := startServer(t, Options{}, ListenerOpts{})
		r := dialRaw(t, ts.path)
		r.open(libvirt.ConnectRo)
		checkReadOnly(t, r)
	})
}

func checkReadOnly(t *testing.T, r *rawClient) {
	t.Helper()
	var ret libvirt.DomainLookupByNameRet
	if err := r.call(ProgramRemote, ProcDomainLookupByName, &libvirt.DomainLookupByNameArgs{Name: "vm1"}, &ret); err != nil {
		t.Fatalf("read-only lookup: %v", err)
	}
	for _, tc := range []struct {
		proc int32
		args any
		api  string
	}{
		{ProcDomainDestroy, &libvirt.DomainDestroyArgs{Dom: testDom}, "virDomainDestroy"},
		{ProcDomainCreate, &libvirt.DomainCreateArgs{Dom: testDom}, "virDomainCreate"},                // not implemented: denial first
		{ProcDomainOpenConsole, &libvirt.DomainOpenConsoleArgs{Dom: testDom}, "virDomainOpenConsole"}, // implemented, not read-only
		{ProcConnectGetDomainCapabilities, &libvirt.ConnectGetDomainCapabilitiesArgs{}, "virConnectGetDomainCapabilities"},
	} {
		e := asError(t, r.call(ProgramRemote, tc.proc, tc.args, nil))
		if e.Code != CodeOperationDenied || e.Message != "operation forbidden: read only access prevents "+tc.api {
			t.Errorf("%s: got %+v", tc.api, e)
		}
	}
}

// TestConcurrentRequestsPerClient checks that one client gets MaxClientRequests calls served at once, and that
// past the limit it is simply not read until a reply is written.
func TestConcurrentRequestsPerClient(t *testing.T) {
	const limit = 3
	ts := startServer(t, Options{MaxClientRequests: limit}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	for i := 0; i < limit+2; i++ {
		r.start(ProgramRemote, ProcConnectGetHostname, struct{}{})
	}
	for i := 0; i < limit; i++ {
		select {
		case <-ts.facade.inFlight:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d calls in flight", i)
		}
	}
	select {
	case <-ts.facade.inFlight:
		t.Fatal("more calls in flight than max_client_requests")
	case <-time.After(100 * time.Millisecond):
	}
	// Another client is served meanwhile.
	other := dialLibvirt(t, ts.path)
	if _, err := other.ConnectGetType(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < limit+2; i++ {
		ts.facade.block <- struct{}{}
		h, _ := r.mustRecv()
		if h.Status != StatusOK || h.Procedure != ProcConnectGetHostname {
			t.Fatalf("reply %s", h)
		}
	}
}

// An inline procedure is answered on the reading goroutine, and so ahead of a slow call of the same client that
// is still running on its own goroutine.
func TestInlineCallPassesASlowOne(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	r.start(ProgramRemote, ProcConnectGetHostname, struct{}{}) // blocks in the handler until told
	<-ts.facade.inFlight
	r.start(ProgramRemote, ProcConnectGetType, struct{}{})
	if h, _ := r.mustRecv(); h.Status != StatusOK || h.Procedure != ProcConnectGetType {
		t.Fatalf("first reply %s, want CONNECT_GET_TYPE's", h)
	}
	ts.facade.block <- struct{}{}
	if h, _ := r.mustRecv(); h.Status != StatusOK || h.Procedure != ProcConnectGetHostname {
		t.Fatalf("second reply %s, want CONNECT_GET_HOSTNAME's", h)
	}
}

// TestStalledClientDoesNotBlockOthers has one client call without ever reading and another flood-free client
// work normally; then it drops a client that does not read its events, without SendEvent ever blocking.
func TestStalledClientDoesNotBlockOthers(t *testing.T) {
	ts := startServer(t, Options{MaxQueuedEventBytes: 64 << 10}, ListenerOpts{})
	stalled := dialRaw(t, ts.path)
	stalled.open(0)
	_ = stalled.nc.(*net.UnixConn).SetReadBuffer(4096)
	go func() {
		// Large replies the client never reads; the reader stops after max_client_requests.
		for i := 0; i < 1000; i++ {
			body, _ := Marshal(&libvirt.DomainGetSchedulerParametersArgs{Dom: testDom, Nparams: 8})
			stalled.serial++
			if WritePacket(stalled.nc, Header{Program: ProgramRemote, Version: 1, Procedure: ProcDomainGetSchedulerParameters, Serial: stalled.serial}, body) != nil {
				return
			}
		}
	}()
	l := dialLibvirt(t, ts.path)
	for i := 0; i < 100; i++ {
		if _, err := l.ConnectGetType(); err != nil {
			t.Fatal(err)
		}
	}

	victim := ts.srv.Clients()[0] // the stalled client connected first
	msg := &libvirt.DomainEventCallbackLifecycleMsg{CallbackID: 1, Msg: libvirt.DomainEventLifecycleMsg{Dom: testDom}}
	start := time.Now()
	var sendErr error
	for i := 0; i < 100000 && sendErr == nil; i++ {
		sendErr = victim.SendEvent(ProgramRemote, ProcDomainEventCallbackLifecycle, msg)
	}
	if sendErr == nil {
		t.Fatal("a client that reads nothing was never dropped")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing to a stalled client took %v", d)
	}
	select {
	case <-victim.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stalled client still connected")
	}
	if _, err := l.ConnectGetType(); err != nil {
		t.Fatal(err)
	}
}

func TestMaxClients(t *testing.T) {
	ts := startServer(t, Options{MaxClients: 2}, ListenerOpts{})
	a := dialLibvirt(t, ts.path)
	b := dialRaw(t, ts.path)
	b.open(0)
	c := dialRaw(t, ts.path)
	c.expectClosed()
	if _, err := a.ConnectGetType(); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.SetMaxClients(3); err != nil {
		t.Fatal(err)
	}
	d := dialRaw(t, ts.path)
	d.open(0)
}

func TestClientLifecycle(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	var c *Client
	waitFor(t, "client", func() bool {
		if cs := ts.srv.Clients(); len(cs) == 1 {
			c = cs[0]
		}
		return c != nil
	})

	info := c.Info()
	if info.Transport != TransportUnix || info.Server != "virtxend" || info.ID != c.ID() || time.Since(info.Connected) > time.Minute {
		t.Fatalf("info %+v", info)
	}
	if info.Peer == nil || info.Peer.PID != int32(os.Getpid()) || info.Peer.UID != uint32(os.Getuid()) {
		t.Fatalf("peer credentials %+v", info.Peer)
	}
	if ts.srv.Client(c.ID()) != c {
		t.Fatal("lookup by id")
	}
	c.SetValue("k", 1)
	if c.Value("k") != 1 {
		t.Fatal("value")
	}
	var order []int
	cleaned := make(chan struct{})
	c.OnClose(func() { order = append(order, 2); close(cleaned) })
	c.OnClose(func() { order = append(order, 1) })

	// CONNECT_CLOSE answers, then the server closes the connection.
	if err := r.call(ProgramRemote, ProcConnectClose, struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	r.expectClosed()
	select {
	case <-cleaned:
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose did not run")
	}
	if len(order) != 2 || order[0] != 1 {
		t.Fatalf("cleanup order %v", order)
	}
	waitFor(t, "client removal", func() bool { return ts.srv.NumClients() == 0 })
	ran := make(chan struct{})
	c.OnClose(func() { close(ran) })
	<-ran
}

func TestClientCloseAndServerShutdown(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	r.start(ProgramRemote, ProcConnectGetHostname, struct{}{}) // a call that never finishes by itself
	<-ts.facade.inFlight
	var cleaned atomic.Bool
	c := ts.srv.Clients()[0]
	c.OnClose(func() { cleaned.Store(true) })
	c.Close() // virt-admin client-disconnect: the blocked call sees its context cancelled
	r.expectClosed()
	waitFor(t, "cleanup", cleaned.Load)

	// Server.Close disconnects everybody and waits.
	r2 := dialRaw(t, ts.path)
	r2.open(0)
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	r2.expectClosed()
	if _, err := net.Dial("unix", ts.path); err == nil {
		t.Fatal("listener still open")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	srv := NewServer(Options{}, NewRemoteProgram(nil))
	l, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, l, ListenerOpts{}) }()
	nc, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, "client", func() bool { return srv.NumClients() == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(b[:]); err == nil {
		t.Fatal("client kept after the server's context ended")
	}
	waitFor(t, "clients gone", func() bool { return srv.NumClients() == 0 })
}

// TestInlineCallsReadInPlace sends inline calls back to back in one write, their bodies read in place from the
// connection's buffer (and one larger than that buffer, read into its own): each is answered from its own
// arguments, in order, also where a body straddles two fills of the buffer.
func TestInlineCallsReadInPlace(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	var names []string
	var batch []byte
	for i := range 400 {
		name := testDom.Name
		switch {
		case i == 200:
			name = strings.Repeat("y", 3*readBufferSize)
		case i%3 != 0:
			name = fmt.Sprintf("missing-%d-%s", i, strings.Repeat("z", i%37))
		}
		body, err := Marshal(&libvirt.DomainLookupByNameArgs{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		h := Header{Program: ProgramRemote, Version: ProtocolVersion, Procedure: ProcDomainLookupByName, Type: TypeCall, Serial: uint32(1000 + i)}
		if batch, err = AppendPacket(batch, h, body); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	go func() { _, _ = r.nc.Write(batch) }()
	for i, name := range names {
		h, body := r.mustRecv()
		if h.Serial != uint32(1000+i) {
			t.Fatalf("reply %d has serial %d", i, h.Serial)
		}
		if name == testDom.Name {
			var ret libvirt.DomainLookupByNameRet
			if h.Status != StatusOK || Unmarshal(body, &ret) != nil || ret.Dom.Name != testDom.Name {
				t.Fatalf("call %d (%s): status %d, %+v", i, name, h.Status, ret)
			}
			continue
		}
		e, err := UnmarshalError(body)
		if h.Status != StatusError || err != nil || !strings.Contains(e.Message, "'"+name+"'") {
			t.Fatalf("call %d (%.40s): status %d, error %+v, %v", i, name, h.Status, e, err)
		}
	}
}
