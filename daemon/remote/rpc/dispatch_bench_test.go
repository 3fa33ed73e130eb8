package rpc

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// pipeCaller serves the test facade on one end of a net.Pipe and returns a function that calls proc on the other
// end and reads the reply, with its packet encoded once and its reply read into one buffer: what it allocates is
// the server's.
func pipeCaller(b testing.TB, proc int32) func() {
	f := newTestFacade()
	srv := NewServer(Options{}, f.program())
	cli, conn := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(context.Background(), conn, ListenerOpts{}); close(done) }()
	b.Cleanup(func() { cli.Close(); <-done; close(f.block); srv.Close() })

	// CONNECT_OPEN("xen:///system", 0): an optional string (present, length, bytes, padding), the flags.
	open := binary.BigEndian.AppendUint32(nil, 1)
	open = binary.BigEndian.AppendUint32(open, 13)
	open = append(open, "xen:///system\x00\x00\x00"...)
	open = binary.BigEndian.AppendUint32(open, 0)
	in := make([]byte, 4096)
	roundTrip := func(pkt []byte) {
		if _, err := cli.Write(pkt); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(cli, in[:4]); err != nil {
			b.Fatal(err)
		}
		n := binary.BigEndian.Uint32(in)
		if _, err := io.ReadFull(cli, in[4:n]); err != nil {
			b.Fatal(err)
		}
		if st := binary.BigEndian.Uint32(in[24:]); st != uint32(StatusOK) {
			b.Fatalf("call %d answered status %d", binary.BigEndian.Uint32(in[12:]), st)
		}
	}
	h := Header{Program: ProgramRemote, Version: ProtocolVersion, Procedure: ProcConnectOpen, Type: TypeCall, Serial: 1}
	pkt, err := AppendPacket(nil, h, open)
	if err != nil {
		b.Fatal(err)
	}
	roundTrip(pkt)
	h.Procedure, h.Serial = proc, 2
	if pkt, err = AppendPacket(nil, h, nil); err != nil {
		b.Fatal(err)
	}
	return func() { roundTrip(pkt) }
}

// benchDispatch measures the server's own cost per call, without the kernel: -benchmem counts the server's
// allocations per call and nothing else.
func benchDispatch(b *testing.B, proc int32) {
	call := pipeCaller(b, proc)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}

// TestInlineCallAllocations checks that an inline call costs the server no allocation beyond its handler's (the
// test facade's CONNECT_GET_TYPE allocates its reply): the call's record, its reply buffer, the XDR coder, the
// packet header and the write are all reused.
func TestInlineCallAllocations(t *testing.T) {
	call := pipeCaller(t, ProcConnectGetType)
	call() // the reply buffer pool's first buffer
	if n := testing.AllocsPerRun(200, call); n > 1.5 {
		t.Errorf("an inline CONNECT_GET_TYPE allocates %.1f objects, want 1 (its handler's)", n)
	}
}

// BenchmarkDispatchInline is a procedure served on the connection's reading goroutine (ConnectGetType).
func BenchmarkDispatchInline(b *testing.B) { benchDispatch(b, ProcConnectGetType) }

// BenchmarkDispatchWorker is a procedure served on a goroutine of its own, through the worker pool
// (ConnectGetVersion).
func BenchmarkDispatchWorker(b *testing.B) { benchDispatch(b, ProcConnectGetVersion) }
