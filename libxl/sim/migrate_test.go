package sim

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestMigrateLinkInjection: a bandwidth limit slows a send down to it and can be lifted mid-way; a cut breaks the
// send in flight (the guest runs on) and only that one; both come through the inject directory as well.
func TestMigrateLinkInjection(t *testing.T) {
	ctx := context.Background()
	h := newHost(t)
	id := mustCreate(t, h, cfg("vm", 16<<10, 1), libxl.CreateOptions{})
	h.SetMigrationBandwidth(id, 64<<20) // 64 MiB/s: the 16 MiB guest takes a quarter of a second at least
	start := time.Now()
	var stream bytes.Buffer
	if err := h.SendDomain(ctx, id, &stream, libxl.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	// A lower bound the limit's timers guarantee (16 waits of 1/64 s), however slow the machine.
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("16 MiB sent in %s under a 64 MiB/s limit", took)
	}
	if err := h.ResumeDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.SetMigrationBandwidth(id, 0)

	h.CutMigration(id)
	if err := h.SendDomain(ctx, id, &bytes.Buffer{}, libxl.SendOptions{Live: true}); !errors.Is(err, errLinkCut) {
		t.Fatalf("send over a cut link: %v", err)
	}
	if info := mustInfo(t, h, id); info.State != libxl.StateRunning {
		t.Fatalf("after a cut the source is %s, want running", info.State)
	}
	if err := h.SendDomain(ctx, id, &bytes.Buffer{}, libxl.SendOptions{Live: true}); err != nil {
		t.Fatalf("the cut outlived its send: %v", err)
	}
	if err := h.ResumeDomain(ctx, id); err != nil {
		t.Fatal(err)
	}

	// Through the inject directory: a bandwidth in MiB/s, then a bad one refused.
	if err := h.injectRequest(writeRequest(t, itoa(id)+".migrate-bandwidth", "3"), itoa(id)+".migrate-bandwidth"); err != nil {
		t.Fatal(err)
	}
	if got := h.link().bandwidth[id]; got != 3<<20 {
		t.Errorf("bandwidth %d after the request, want 3 MiB/s", got)
	}
	if err := h.injectRequest(writeRequest(t, itoa(id)+".migrate-bandwidth", "fast"), itoa(id)+".migrate-bandwidth"); err == nil {
		t.Error("a bandwidth that is not a number was taken")
	}
	if err := h.injectRequest(writeRequest(t, itoa(id)+".migrate-cut", ""), itoa(id)+".migrate-cut"); err != nil || !h.link().cut[id] {
		t.Errorf("migrate-cut request: %v", err)
	}
}

// writeRequest writes an inject request file outside the watched directory and returns its path.
func writeRequest(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
