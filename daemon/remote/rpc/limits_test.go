package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// The defaults are libvirt's daemon defaults (remote_daemon_config.c) and protocol bounds (virnetprotocol.x,
// remote_protocol.x).
func TestDefaultsAreLibvirts(t *testing.T) {
	o := Options{}.withDefaults()
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"max_clients", int64(o.MaxClients), 5000},
		{"max_client_requests", int64(o.MaxClientRequests), 5},
		{"max_workers", int64(o.MaxWorkers), 20},
		{"prio_workers", int64(o.PrioWorkers), 5},
		{"keepalive_interval", int64(o.KeepaliveInterval), int64(5 * time.Second)},
		{"keepalive_count", int64(o.KeepaliveCount), 5},
		{"VIR_NET_MESSAGE_MAX", MaxMessageSize, 33554432},
		{"VIR_NET_MESSAGE_PAYLOAD_MAX", MaxPayloadSize, 33554408},
		{"length word plus VIR_NET_MESSAGE_MAX", MaxPacketSize, 33554436},
		{"VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX", MaxStreamChunk, 262120},
		{"REMOTE_STRING_MAX", MaxString, 4194304},
		{"REMOTE_MIGRATE_COOKIE_MAX", MaxMigrateCookie, 4194304},
		{"REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX", MaxMigrateParams, 64},
		{"REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX", MaxSchedulerParams, 16},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, libvirt's is %d", tc.name, tc.got, tc.want)
		}
	}
}

// A client that sends PINGs and never reads the PONGs must not make the daemon queue them without bound: once
// its queue is over the connection's budget it is no longer read, and every other client is served.
func TestUnreadPongsStayWithinBudget(t *testing.T) {
	const budget = 64 << 10
	ts := startServer(t, Options{MaxClientMemory: budget}, ListenerOpts{})
	flood := dialRaw(t, ts.path)
	var c *Client
	waitFor(t, "the flooding client", func() bool {
		cs := ts.srv.Clients()
		if len(cs) == 1 {
			c = cs[0]
		}
		return c != nil
	})

	pkt, err := AppendPacket(nil, ping, nil)
	if err != nil {
		t.Fatal(err)
	}
	burst := bytes.Repeat(pkt, 1024) // 28 KiB of PINGs per write
	deadline := time.Now().Add(2 * time.Second)
	_ = flood.nc.SetWriteDeadline(deadline)
	sent := 0
	for time.Now().Before(deadline) {
		n, err := flood.nc.Write(burst)
		sent += n
		if err != nil {
			break // the daemon stopped reading: the kernel's buffers are full
		}
	}
	_ = flood.nc.SetWriteDeadline(time.Time{})
	_, peak := c.out.usage()
	t.Logf("%d PINGs sent, the connection held at most %d bytes (budget %d)", sent/len(pkt), peak, budget)
	if peak > budget+HeaderSize+itemOverhead {
		t.Errorf("the unread PONGs took %d bytes, over the budget of %d", peak, budget)
	}
	if sent < budget {
		t.Fatalf("only %d bytes of PINGs sent: the test did not flood", sent)
	}

	other := dialLibvirt(t, ts.path)
	if _, err := other.ConnectGetType(); err != nil {
		t.Fatalf("another client while one floods: %v", err)
	}
	// The flooder is throttled, not dropped: once it reads, it gets its PONGs.
	for range 100 {
		if h, _ := flood.mustRecv(); h != pong {
			t.Fatalf("got %s", h)
		}
	}
}

// A call of exactly the message limit is read and answered; a byte more closes the connection (framing, in
// server_test.go). The connection's budget does not stand in the way of a single call, however large.
func TestMessageSizeAtLimit(t *testing.T) {
	ts := startServer(t, Options{MaxClientMemory: 64 << 10}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	body := make([]byte, MaxPayloadSize) // CONNECT_GET_TYPE ignores its arguments, as libvirt ignores trailing bytes
	r.serial++
	go r.send(Header{Program: ProgramRemote, Version: 1, Procedure: ProcConnectGetType, Type: TypeCall, Serial: r.serial}, body)
	h, ret := r.mustRecv()
	if h.Status != StatusOK || h.Serial != r.serial {
		e, _ := UnmarshalError(ret)
		t.Fatalf("reply %s: %v", h, e)
	}

	past := dialRaw(t, ts.path)
	past.nc.Write(lengthWord(MaxPacketSize + 1))
	past.expectClosed()
}

// Strings, typed parameter lists and migration cookies are bounded as remote_protocol.x bounds them: at the
// bound they decode, one past it the call fails with libvirt's decoding error.
func TestProtocolBounds(t *testing.T) {
	params := func(n int) []libvirt.TypedParam {
		ps := make([]libvirt.TypedParam, n)
		for i := range ps {
			ps[i] = NewTypedParam("p", TypedParamUint, i)
		}
		return ps
	}
	dom := libvirt.Domain{Name: "vm1"}
	for _, tc := range []struct {
		name     string
		at, past any        // what the bound admits, and one more
		into     func() any // what the daemon decodes into
	}{
		{"string", &struct{ S string }{strings.Repeat("x", MaxString)}, &struct{ S []byte }{bytes.Repeat([]byte("x"), MaxString+1)}, // opaque<> travels as string<> does
			func() any { return new(struct{ S string }) }},
		{"scheduler parameters",
			&libvirt.DomainSetSchedulerParametersArgs{Dom: dom, Params: params(MaxSchedulerParams)},
			&struct {
				Dom    libvirt.Domain
				Params []libvirt.TypedParam
			}{dom, params(MaxSchedulerParams + 1)},
			func() any { return new(libvirt.DomainSetSchedulerParametersArgs) }},
		{"migration parameters",
			&libvirt.DomainMigrateBegin3ParamsArgs{Dom: dom, Params: params(MaxMigrateParams)},
			&struct {
				Dom    libvirt.Domain
				Params []libvirt.TypedParam
				Flags  uint32
			}{dom, params(MaxMigrateParams + 1), 0},
			func() any { return new(libvirt.DomainMigrateBegin3ParamsArgs) }},
		{"migration cookie",
			&libvirt.DomainMigrateFinish3ParamsArgs{CookieIn: make([]byte, MaxMigrateCookie)},
			&struct {
				Params   []libvirt.TypedParam
				CookieIn []byte
				Flags    uint32
				Cancel   int32
			}{nil, make([]byte, MaxMigrateCookie+1), 0, 0},
			func() any { return new(libvirt.DomainMigrateFinish3ParamsArgs) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := Marshal(tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if err := Unmarshal(at, tc.into()); err != nil {
				t.Fatalf("at the bound: %v", err)
			}
			past, err := Marshal(tc.past)
			if err != nil {
				t.Fatal(err)
			}
			if err := Unmarshal(past, tc.into()); !errors.Is(err, ErrXDR) {
				t.Fatalf("past the bound: %v, want ErrXDR", err)
			}
		})
	}

	// Through the server: the call fails with libvirt's error, and the connection goes on.
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	err := r.call(ProgramRemote, ProcDomainSetSchedulerParameters, &struct {
		Dom    libvirt.Domain
		Params []libvirt.TypedParam
	}{testDom, params(MaxSchedulerParams + 1)}, nil)
	if e := asError(t, err); e.Code != CodeRPC || e.Message != "Unable to decode message payload" {
		t.Fatalf("17 scheduler parameters: %+v", e)
	}
	if err := r.call(ProgramRemote, ProcDomainSetSchedulerParameters,
		&libvirt.DomainSetSchedulerParametersArgs{Dom: testDom, Params: params(MaxSchedulerParams)}, nil); err != nil {
		t.Fatalf("16 scheduler parameters: %v", err)
	}
	ts.facade.mu.Lock()
	n := len(ts.facade.lastSched)
	ts.facade.mu.Unlock()
	if n != MaxSchedulerParams {
		t.Fatalf("the handler got %d parameters", n)
	}
	err = r.call(ProgramRemote, ProcDomainLookupByName, &struct{ Name []byte }{bytes.Repeat([]byte("x"), MaxString+1)}, nil)
	if e := asError(t, err); e.Code != CodeRPC || e.Message != "Unable to decode message payload" {
		t.Fatalf("a name past REMOTE_STRING_MAX: %+v", e)
	}
}

// TestEncodeRefusesPastBounds checks the other direction: the daemon does not send a string or a bounded list
// libvirt's clients would refuse, and the call fails with libvirt's encoding error instead.
func TestEncodeRefusesPastBounds(t *testing.T) {
	if _, err := Marshal(&struct{ S string }{strings.Repeat("x", MaxString+1)}); !errors.Is(err, ErrXDR) {
		t.Fatalf("string past the bound: %v", err)
	}
	if _, err := Marshal(&libvirt.DomainSetSchedulerParametersArgs{Params: make([]libvirt.TypedParam, MaxSchedulerParams+1)}); !errors.Is(err, ErrXDR) {
		t.Fatalf("parameters past the bound: %v", err)
	}
	ts := startServer(t, Options{}, ListenerOpts{})
	Register(ts.srv.program(ProgramRemote, ProtocolVersion), ProcConnectGetSysinfo,
		func(context.Context, *Call, *libvirt.ConnectGetSysinfoArgs) (*libvirt.ConnectGetSysinfoRet, error) {
			return &libvirt.ConnectGetSysinfoRet{Sysinfo: strings.Repeat("x", MaxString+1)}, nil
		})
	r := dialRaw(t, ts.path)
	r.open(0)
	err := r.call(ProgramRemote, ProcConnectGetSysinfo, &libvirt.ConnectGetSysinfoArgs{}, nil)
	if e := asError(t, err); e.Code != CodeRPC || e.Message != "Unable to encode message payload" {
		t.Fatalf("%+v", e)
	}
}

// max_workers calls are served at once, over all clients; the next one waits for a worker, except a
// high-priority call, which a priority worker serves.
func TestMaxWorkers(t *testing.T) {
	ts := startServer(t, Options{MaxWorkers: 2, PrioWorkers: 1}, ListenerOpts{})
	started := make(chan struct{}, 8)
	unblock := make(chan struct{})
	prog := ts.srv.program(ProgramRemote, ProtocolVersion)
	// CONNECT_GET_CAPABILITIES is an ordinary (low-priority) procedure; here it waits until told.
	Register(prog, ProcConnectGetCapabilities, func(ctx context.Context, _ *Call, _ *struct{}) (*libvirt.ConnectGetCapabilitiesRet, error) {
		started <- struct{}{}
		select {
		case <-unblock:
		case <-ctx.Done():
		}
		return &libvirt.ConnectGetCapabilitiesRet{Capabilities: "<capabilities/>"}, nil
	})
	clients := make([]*rawClient, 3)
	for i := range clients {
		clients[i] = dialRaw(t, ts.path)
		clients[i].open(0)
		clients[i].start(ProgramRemote, ProcConnectGetCapabilities, struct{}{})
	}
	for range 2 { // at the limit: two calls run
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("the calls within max_workers did not start")
		}
	}
	waitFor(t, "the third call queued", func() bool { return ts.srv.Workers().Queued == 1 })
	select { // past it: the third waits
	case <-started:
		t.Fatal("a call ran past max_workers")
	case <-time.After(100 * time.Millisecond):
	}
	if w := ts.srv.Workers(); w.Busy != 2 || w.Max != 2 || w.Prio != 1 {
		t.Fatalf("workers %+v", w)
	}
	// A high-priority call (virDomainDestroy) takes the priority worker meanwhile.
	prio := dialRaw(t, ts.path)
	prio.open(0)
	if err := prio.call(ProgramRemote, ProcDomainDestroy, &libvirt.DomainDestroyArgs{Dom: testDom}, nil); err != nil {
		t.Fatalf("destroy while every worker is busy: %v", err)
	}
	// Raising the limit (srv-threadpool-set) starts the waiting call.
	ts.srv.SetWorkers(3, 1)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the queued call did not start when the limit was raised")
	}
	close(unblock)
	for _, c := range clients {
		if h, _ := c.mustRecv(); h.Status != StatusOK {
			t.Fatalf("reply %s", h)
		}
	}
	if w := ts.srv.Workers(); w.Busy != 0 || w.Queued != 0 {
		t.Fatalf("workers after the calls: %+v", w)
	}
}

// At debug level every failed call is logged with its procedure, its client and its error code, NO_SUPPORT
// answers and timeouts included.
func TestFailedCallsLoggedAtDebug(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		lines = append(lines, args)
		mu.Unlock()
	}, funcr.Options{Verbosity: 1})
	ts := startServerCtx(t, logr.NewContext(context.Background(), log), Options{}, ListenerOpts{})
	Register(ts.srv.program(ProgramRemote, ProtocolVersion), ProcDomainCreate, func(context.Context, *Call, *libvirt.DomainCreateArgs) (*struct{}, error) {
		return nil, Errorf(CodeOperationTimeout, DomainLibxl, "domain did not start within %s", time.Minute)
	})
	r := dialRaw(t, ts.path)
	r.open(0)
	id := ts.srv.Clients()[0].ID()
	_ = r.call(ProgramRemote, ProcDomainBlockPeek, &libvirt.DomainBlockPeekArgs{Dom: testDom, Path: "xvda", Size: 512}, nil)
	_ = r.call(ProgramRemote, ProcDomainCreate, &libvirt.DomainCreateArgs{Dom: testDom}, nil)
	_ = r.call(ProgramRemote, 99999, struct{}{}, nil)
	find := func(parts ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				return
			}
		}
		t.Errorf("no log line with %q in:\n%s", parts, strings.Join(lines, "\n"))
	}
	client := `"client"=` + strconv.FormatUint(id, 10)
	find(`"msg"="call failed"`, client, `"proc"="REMOTE_PROC_DOMAIN_BLOCK_PEEK"`, `"api"="virDomainBlockPeek"`, `"code"=3`, `"error"="VIR_ERR_NO_SUPPORT"`, `"uid"=`)
	find(`"msg"="call failed"`, client, `"proc"="REMOTE_PROC_DOMAIN_CREATE"`, `"error"="VIR_ERR_OPERATION_TIMEOUT"`)
	find(`"msg"="call failed"`, client, `"number"=99999`, `"error"="VIR_ERR_RPC"`, "unknown procedure")
}

// TestCallObserver: the observer hears of every answered call with its procedure and libvirt's error code.
func TestCallObserver(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	var mu sync.Mutex
	seen := map[string]int{}
	ts.srv.SetCallObserver(func(proc string, code int, elapsed time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if elapsed < 0 {
			t.Errorf("%s: elapsed %v", proc, elapsed)
		}
		seen[proc] = code
	})
	r := dialRaw(t, ts.path)
	r.open(0)
	_ = r.call(ProgramRemote, ProcDomainBlockPeek, &libvirt.DomainBlockPeekArgs{Dom: testDom, Path: "xvda", Size: 512}, nil)
	_ = r.call(ProgramRemote, 99999, struct{}{}, nil)
	mu.Lock()
	defer mu.Unlock()
	for proc, code := range map[string]int{"REMOTE_PROC_CONNECT_OPEN": 0, "REMOTE_PROC_DOMAIN_BLOCK_PEEK": int(CodeNoSupport),
		fmt.Sprintf("program %#x procedure 99999", ProgramRemote): int(CodeRPC)} {
		if got, ok := seen[proc]; !ok || got != code {
			t.Errorf("%s: observed %v (%v), want code %d; all: %v", proc, got, ok, code, seen)
		}
	}
}
