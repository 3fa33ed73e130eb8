package sim

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

func TestMigrateStream(t *testing.T) {
	ctx := context.Background()
	for _, live := range []bool{true, false} {
		src, dst := newHost(t), newHost(t)
		id := mustCreate(t, src, cfg("vm", 64<<10, 2), libxl.CreateOptions{})
		var stream bytes.Buffer
		var last libxl.MigrationProgress
		if err := src.SendDomain(ctx, id, &stream, libxl.SendOptions{Live: live, Progress: func(p libxl.MigrationProgress) { last = p }}); err != nil {
			t.Fatal(err)
		}
		if info := mustInfo(t, src, id); info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownSuspend {
			t.Fatalf("live=%v: the source is %s/%s after sending, want suspended", live, info.State, info.ShutdownReason)
		}
		if stream.Len() < 64<<20 || !last.Suspended || last.Processed < 64<<20 {
			t.Fatalf("live=%v: %d bytes sent, last progress %+v: want at least the guest's 64 MiB", live, stream.Len(), last)
		}
		full := stream.Bytes()
		// A stream cut anywhere is refused and builds nothing.
		for _, n := range []int{0, 19, 20 + 9 + 100, len(full) / 2, len(full) - 1} {
			_, err := dst.ReceiveDomain(ctx, nil, bytes.NewReader(full[:n]), libxl.ReceiveOptions{})
			if !errors.Is(err, libxl.ErrInvalid) {
				t.Fatalf("live=%v: a stream cut at %d of %d: %v, want ErrInvalid", live, n, len(full), err)
			}
		}
		if doms, _ := dst.ListDomains(ctx); len(doms) != 1 {
			t.Fatalf("a cut stream left %d domains", len(doms)-1)
		}
		nid, err := dst.ReceiveDomain(ctx, nil, bytes.NewReader(full), libxl.ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info := mustInfo(t, dst, nid); info.State != libxl.StatePaused || info.Name != "vm" || info.MaxVcpus != 2 {
			t.Fatalf("received %+v, want vm paused with 2 vcpus", info)
		}
		// Rolled back instead: the source runs again.
		if err := src.ResumeDomain(ctx, id); err != nil {
			t.Fatal(err)
		}
		if info := mustInfo(t, src, id); info.State != libxl.StateRunning {
			t.Fatalf("resumed source is %s", info.State)
		}
	}
}

// failingWriter fails after n bytes: a stream cut mid-way.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("connection reset")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestMigrateSendFailureResumes(t *testing.T) {
	ctx := context.Background()
	h := newHost(t)
	id := mustCreate(t, h, cfg("vm", 64<<10, 1), libxl.CreateOptions{})
	for _, cut := range []int{1 << 20, 64<<20 + 1<<20} { // in the live rounds, and in the final one
		if err := h.SendDomain(ctx, id, &failingWriter{n: cut}, libxl.SendOptions{Live: true}); err == nil {
			t.Fatalf("send through a stream cut at %d succeeded", cut)
		}
		if info := mustInfo(t, h, id); info.State != libxl.StateRunning {
			t.Fatalf("after a stream cut at %d the source is %s, want running", cut, info.State)
		}
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := h.SendDomain(ctx2, id, &bytes.Buffer{}, libxl.SendOptions{Live: true}); err == nil {
		t.Fatal("an aborted send succeeded")
	}
	if info := mustInfo(t, h, id); info.State != libxl.StateRunning {
		t.Fatalf("after an abort the source is %s", info.State)
	}
}
