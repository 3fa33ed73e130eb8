package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

var testDom = libvirt.Domain{Name: "vm1", UUID: libvirt.UUID{0x2a, 0x7b, 0xd3, 0xa5}, ID: 13}

// testFacade is a tiny facade: just enough procedures to exercise the layer.
type testFacade struct {
	block     chan struct{} // CONNECT_GET_HOSTNAME waits on it
	inFlight  chan struct{} // CONNECT_GET_HOSTNAME signals its start on it
	lastSched []libvirt.TypedParam
	mu        sync.Mutex
	console   chan *Stream
}

func newTestFacade() *testFacade {
	return &testFacade{block: make(chan struct{}), inFlight: make(chan struct{}, 64), console: make(chan *Stream, 4)}
}

func (f *testFacade) program() *Program {
	p := NewRemoteProgram(func(_ context.Context, _ *Call, feature int32) (bool, error) {
		return feature == FeatureRemoteEventCallback, nil
	})
	Register(p, ProcConnectOpen, func(_ context.Context, call *Call, args *ConnectOpenArgs) (*struct{}, error) {
		if len(args.Name) > 0 && args.Name[0] == "bad:///" {
			return nil, Errorf(CodeNoConnect, DomainNone, "%s", args.Name[0])
		}
		if args.Flags&libvirt.ConnectRo != 0 {
			call.Client.SetReadOnly()
		}
		call.Client.SetOpened(true)
		return nil, nil
	})
	Register(p, ProcConnectGetType, func(context.Context, *Call, *struct{}) (*libvirt.ConnectGetTypeRet, error) {
		return &libvirt.ConnectGetTypeRet{Type: "Xen"}, nil
	}, Inline())
	Register(p, ProcConnectGetVersion, func(context.Context, *Call, *struct{}) (*libvirt.ConnectGetVersionRet, error) {
		return &libvirt.ConnectGetVersionRet{HvVer: 4017000}, nil
	})
	Register(p, ProcConnectGetHostname, func(ctx context.Context, _ *Call, _ *struct{}) (*libvirt.ConnectGetHostnameRet, error) {
		f.inFlight <- struct{}{}
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &libvirt.ConnectGetHostnameRet{Hostname: "dom0"}, nil
	})
	Register(p, ProcDomainLookupByName, func(_ context.Context, _ *Call, args *libvirt.DomainLookupByNameArgs) (*libvirt.DomainLookupByNameRet, error) {
		if args.Name != testDom.Name {
			return nil, Errorf(CodeNoDomain, DomainLibxl, "no domain with matching name '%s'", args.Name)
		}
		return &libvirt.DomainLookupByNameRet{Dom: testDom}, nil
	}, Inline()) // as the facade's: its arguments are read in place
	Register(p, ProcDomainDestroy, func(context.Context, *Call, *libvirt.DomainDestroyArgs) (*struct{}, error) {
		return nil, nil
	})
	Register(p, ProcDomainGetState, func(context.Context, *Call, *libvirt.DomainGetStateArgs) (*libvirt.DomainGetStateRet, error) {
		panic("boom")
	}, Inline()) // a panic on the reading goroutine must not end the connection either
	Register(p, ProcDomainGetSchedulerParameters, func(context.Context, *Call, *libvirt.DomainGetSchedulerParametersArgs) (*libvirt.DomainGetSchedulerParametersRet, error) {
		return &libvirt.DomainGetSchedulerParametersRet{Params: []libvirt.TypedParam{
			NewTypedParam("weight", TypedParamUint, 256),
			NewTypedParam("cap", TypedParamUint, 0),
			NewTypedParam("big", TypedParamLLong, -1<<40),
			NewTypedParam("ubig", TypedParamULLong, uint64(1)<<63),
			NewTypedParam("ratio", TypedParamDouble, 0.5),
			NewTypedParam("on", TypedParamBoolean, true),
			NewTypedParam("name", TypedParamString, "credit"),
			NewTypedParam("neg", TypedParamInt, -7),
		}}, nil
	})
	Register(p, ProcDomainSetSchedulerParameters, func(_ context.Context, _ *Call, args *libvirt.DomainSetSchedulerParametersArgs) (*struct{}, error) {
		f.mu.Lock()
		f.lastSched = args.Params
		f.mu.Unlock()
		return nil, nil
	})
	Register(p, ProcDomainScreenshot, func(_ context.Context, call *Call, _ *libvirt.DomainScreenshotArgs) (*libvirt.DomainScreenshotRet, error) {
		st := call.OpenStream()
		go func() {
			defer st.Close()
			if _, err := st.Write(screenshot); err != nil {
				return
			}
			_ = st.CloseWrite()
			<-st.Done()
		}()
		return &libvirt.DomainScreenshotRet{Mime: libvirt.OptString{"image/png"}}, nil
	})
	Register(p, ProcDomainOpenConsole, func(_ context.Context, call *Call, _ *libvirt.DomainOpenConsoleArgs) (*struct{}, error) {
		f.console <- call.OpenStream()
		return nil, nil
	})
	Register(p, ProcConnectDomainEventCallbackRegisterAny, func(_ context.Context, call *Call, args *libvirt.ConnectDomainEventCallbackRegisterAnyArgs) (*libvirt.ConnectDomainEventCallbackRegisterAnyRet, error) {
		call.Client.SetValue("events", args.EventID)
		return &libvirt.ConnectDomainEventCallbackRegisterAnyRet{CallbackID: 7}, nil
	})
	Register(p, ProcConnectDomainEventCallbackDeregisterAny, func(context.Context, *Call, *libvirt.ConnectDomainEventCallbackDeregisterAnyArgs) (*struct{}, error) {
		return nil, nil
	})
	return p
}

// screenshot is the stream payload of DOMAIN_SCREENSHOT: bigger than one stream packet.
var screenshot = func() []byte {
	b := make([]byte, MaxStreamChunk+1000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

type testServer struct {
	srv    *Server
	path   string
	facade *testFacade
}

// startServer serves a test facade on a Unix socket until the test ends.
func startServer(t testing.TB, opts Options, lo ListenerOpts) *testServer {
	t.Helper()
	return startServerCtx(t, context.Background(), opts, lo)
}

// startServerCtx is startServer with the context Serve gets, which carries its logger.
func startServerCtx(t testing.TB, base context.Context, opts Options, lo ListenerOpts) *testServer {
	t.Helper()
	f := newTestFacade()
	srv := NewServer(opts, f.program(), NewAdminProgram())
	path := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(base)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l, lo) }()
	t.Cleanup(func() {
		close(f.block)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		srv.Close()
	})
	return &testServer{srv: srv, path: path, facade: f}
}

// dialLibvirt connects the real go-libvirt client.
func dialLibvirt(t testing.TB, path string) *libvirt.Libvirt {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(nc))
	if err := l.ConnectToURI("xen:///system"); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// rawClient speaks the protocol byte by byte, to check what go-libvirt hides.
type rawClient struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	serial uint32
}

func dialRaw(t testing.TB, path string) *rawClient {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawClient) send(h Header, body []byte) {
	r.t.Helper()
	if err := WritePacket(r.nc, h, body); err != nil {
		r.t.Fatalf("send %s: %v", h, err)
	}
}

// start sends a call and returns its serial.
func (r *rawClient) start(prog uint32, proc int32, args any) uint32 {
	r.t.Helper()
	body, err := Marshal(args)
	if err != nil {
		r.t.Fatal(err)
	}
	r.serial++
	r.send(Header{Program: prog, Version: ProtocolVersion, Procedure: proc, Type: TypeCall, Serial: r.serial}, body)
	return r.serial
}

func (r *rawClient) recv() (Header, []byte, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	return ReadPacket(r.br, nil)
}

func (r *rawClient) mustRecv() (Header, []byte) {
	r.t.Helper()
	h, body, err := r.recv()
	if err != nil {
		r.t.Fatalf("receive: %v", err)
	}
	return h, body
}

// call makes a call and decodes its reply into ret, or returns the error reply.
func (r *rawClient) call(prog uint32, proc int32, args, ret any) error {
	r.t.Helper()
	serial := r.start(prog, proc, args)
	h, body := r.mustRecv()
	if h.Type != TypeReply || h.Serial != serial || h.Procedure != proc || h.Program != prog {
		r.t.Fatalf("reply header %s for call serial %d proc %d", h, serial, proc)
	}
	if h.Status == StatusError {
		e, err := UnmarshalError(body)
		if err != nil {
			r.t.Fatal(err)
		}
		return e
	}
	if ret != nil {
		if err := Unmarshal(body, ret); err != nil {
			r.t.Fatal(err)
		}
	}
	return nil
}

// open performs virsh's handshake.
func (r *rawClient) open(flags libvirt.ConnectFlags) {
	r.t.Helper()
	var auth libvirt.AuthListRet
	if err := r.call(ProgramRemote, ProcAuthList, struct{}{}, &auth); err != nil {
		r.t.Fatal(err)
	}
	if err := r.call(ProgramRemote, ProcConnectOpen, &ConnectOpenArgs{Name: libvirt.OptString{"xen:///system"}, Flags: flags}, nil); err != nil {
		r.t.Fatal(err)
	}
}

// expectClosed waits for the server to close the connection.
func (r *rawClient) expectClosed() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := r.br.ReadByte()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		r.t.Fatalf("connection not closed: %v", err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func asError(t testing.TB, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *rpc.Error", err, err)
	}
	return e
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hexdump(b []byte) string { return fmt.Sprintf("% x", b) }
