package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// TestScreenshotStreamFraming replays trace 36-screenshot-stream: REPLY, data in CONTINUE packets, an empty
// CONTINUE for the end of data, the client's finish (OK), and the server's confirmation (OK).
func TestScreenshotStreamFraming(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	serial := r.start(ProgramRemote, ProcDomainScreenshot, &libvirt.DomainScreenshotArgs{Dom: testDom})

	h, body := r.mustRecv()
	if h.Type != TypeReply || h.Status != StatusOK || h.Serial != serial {
		t.Fatalf("first packet %s", h)
	}
	var ret libvirt.DomainScreenshotRet
	if err := Unmarshal(body, &ret); err != nil || ret.Mime[0] != "image/png" {
		t.Fatalf("reply %v %v", ret, err)
	}
	streamHdr := Header{Program: ProgramRemote, Version: 1, Procedure: ProcDomainScreenshot, Type: TypeStream, Serial: serial}
	var data bytes.Buffer
	for {
		h, body := r.mustRecv()
		want := streamHdr
		want.Status = StatusContinue
		if h != want {
			t.Fatalf("stream packet %s, want %s", h, want)
		}
		if len(body) > MaxStreamChunk {
			t.Fatalf("stream packet of %d bytes", len(body))
		}
		if len(body) == 0 {
			break
		}
		data.Write(body)
	}
	if !bytes.Equal(data.Bytes(), screenshot) {
		t.Fatalf("got %d bytes of %d", data.Len(), len(screenshot))
	}
	finish := streamHdr
	finish.Status = StatusOK
	r.send(finish, nil)
	h, body = r.mustRecv()
	if h != finish || len(body) != 0 {
		t.Fatalf("finish confirmation %s %d bytes", h, len(body))
	}
	var typ libvirt.ConnectGetTypeRet
	if err := r.call(ProgramRemote, ProcConnectGetType, struct{}{}, &typ); err != nil {
		t.Fatal(err)
	}
}

func openConsole(t *testing.T, ts *testServer, r *rawClient) (Header, *Stream) {
	t.Helper()
	serial := r.start(ProgramRemote, ProcDomainOpenConsole, &libvirt.DomainOpenConsoleArgs{Dom: testDom})
	st := <-ts.facade.console
	h, _ := r.mustRecv()
	if h.Type != TypeReply || h.Status != StatusOK {
		t.Fatalf("reply %s", h)
	}
	return Header{Program: ProgramRemote, Version: 1, Procedure: ProcDomainOpenConsole, Type: TypeStream, Serial: serial, Status: StatusContinue}, st
}

func TestConsoleStreamBothWays(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	sh, st := openConsole(t, ts, r)

	// pty output → client
	if _, err := st.Write([]byte("login: ")); err != nil {
		t.Fatal(err)
	}
	h, body := r.mustRecv()
	if h != sh || string(body) != "login: " {
		t.Fatalf("got %s %q", h, body)
	}
	// client keystrokes → pty
	r.send(sh, []byte("root\n"))
	buf := make([]byte, 16)
	n, err := st.Read(buf)
	if err != nil || string(buf[:n]) != "root\n" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	// Other calls keep working while the stream is open.
	var typ libvirt.ConnectGetTypeRet
	if err := r.call(ProgramRemote, ProcConnectGetType, struct{}{}, &typ); err != nil {
		t.Fatal(err)
	}
	// The client aborts (virsh console's ^] with an error): the server answers with an error and the pty side
	// sees ErrStreamAborted.
	abort := sh
	abort.Status = StatusError
	r.send(abort, nil)
	h, body = r.mustRecv()
	if h != abort {
		t.Fatalf("abort answer %s", h)
	}
	if e, err := UnmarshalError(body); err != nil || e.Code != CodeRPC || e.Message != "stream aborted at client request" {
		t.Fatalf("abort error %+v %v", e, err)
	}
	if _, err := st.Read(buf); !errors.Is(err, ErrStreamAborted) {
		t.Fatalf("read after abort: %v", err)
	}
	if _, err := st.Write([]byte("x")); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("write after abort: %v", err)
	}
	<-st.Done()
	// Late data for the closed stream is dropped.
	r.send(sh, []byte("late"))
	if err := r.call(ProgramRemote, ProcConnectGetType, struct{}{}, &typ); err != nil {
		t.Fatal(err)
	}
}

func TestStreamServerAbortAndFinish(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)

	sh, st := openConsole(t, ts, r)
	if err := st.Abort(Errorf(CodeOperationFailed, DomainLibxl, "domain %s stopped", "vm1")); err != nil {
		t.Fatal(err)
	}
	h, body := r.mustRecv()
	want := sh
	want.Status = StatusError
	if h != want {
		t.Fatalf("abort packet %s", h)
	}
	if e, _ := UnmarshalError(body); e == nil || e.Message != "operation failed: domain vm1 stopped" {
		t.Fatalf("abort error %+v", e)
	}

	// A finish from the client ends Read with io.EOF after the buffered data, and is confirmed.
	sh, st = openConsole(t, ts, r)
	r.send(sh, []byte("bye"))
	fin := sh
	fin.Status = StatusOK
	r.send(fin, nil)
	h, _ = r.mustRecv()
	if h != fin {
		t.Fatalf("finish confirmation %s", h)
	}
	got, err := io.ReadAll(st)
	if err != nil || string(got) != "bye" {
		t.Fatalf("read %q %v", got, err)
	}
	if st.Err() != nil {
		t.Fatalf("clean finish reported %v", st.Err())
	}
}

// TestStreamFlowControl checks that a client that floods a stream nobody reads stops being read (its reader
// blocks) without hurting other clients, and that the stream drains once read.
func TestStreamFlowControl(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.open(0)
	sh, st := openConsole(t, ts, r)
	chunk := make([]byte, 64<<10)
	const chunks = 64 // 4 MiB, four times the window
	go func() {
		for i := 0; i < chunks; i++ {
			if WritePacket(r.nc, sh, chunk) != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	st.mu.Lock()
	buffered := st.inBytes
	st.mu.Unlock()
	if buffered > streamInWindow+len(chunk) {
		t.Fatalf("stream buffered %d bytes", buffered)
	}
	other := dialLibvirt(t, ts.path)
	if _, err := other.ConnectGetType(); err != nil {
		t.Fatal(err)
	}
	total := 0
	buf := make([]byte, 128<<10)
	for total < chunks*len(chunk) {
		n, err := st.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
}

func TestStreamOfFailedCallCarriesNothing(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	p := ts.srv.program(ProgramRemote, 1)
	opened := make(chan *Stream, 1)
	Register(p, ProcDomainOpenChannel, func(_ context.Context, call *Call, _ *libvirt.DomainOpenChannelArgs) (*struct{}, error) {
		opened <- call.OpenStream()
		return nil, Errorf(CodeOperationInvalid, DomainLibxl, "no channel")
	})
	r := dialRaw(t, ts.path)
	r.open(0)
	err := r.call(ProgramRemote, ProcDomainOpenChannel, &libvirt.DomainOpenChannelArgs{Dom: testDom}, nil)
	if CodeOf(err) != CodeOperationInvalid {
		t.Fatalf("got %v", err)
	}
	st := <-opened
	if _, err := st.Write([]byte("x")); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("write on the stream of a failed call: %v", err)
	}
}
