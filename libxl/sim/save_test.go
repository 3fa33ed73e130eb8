package sim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

func TestSaveRestoreRoundTrip(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	ev := subscribe(t, h)
	c := cfg("guest", 1<<20, 4)
	c.CInfo.UUID = "4f1c2a3b-1111-2222-3333-444455556666"
	id := mustCreate(t, h, c, libxl.CreateOptions{})
	if err := h.SetVcpusOnline(ctx, id, 3); err != nil {
		t.Fatal(err)
	}
	if err := h.AttachDevice(ctx, id, diskDev("xvdb")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "guest.save")
	if err := savePath(h, ctx, id, path); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ev, libxl.EventShutdown, id); e.Reason != libxl.ShutdownSuspend {
		t.Fatalf("save reported %+v", e)
	}
	waitEvent(t, ev, libxl.EventDeath, id)
	_, err := h.DomainInfo(ctx, id)
	wantErr(t, err, libxl.ErrNoDomain)
	if hi, _ := h.HostInfo(ctx); hi.FreeKiB != 3<<20 {
		t.Fatalf("saved domain still holds memory: free %d", hi.FreeKiB)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 64<<10 {
		t.Fatalf("image of a 1 GiB guest is %d bytes: it should be a few KiB", st.Size())
	}

	// nil cfg: restore with the config in the image.
	nid, err := restorePath(h, ctx, nil, path, libxl.CreateOptions{Userdata: map[string][]byte{"k": []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	if nid == id {
		t.Fatal("restore reused the domid")
	}
	if e := waitEvent(t, ev, libxl.EventCreated, nid); e.State != libxl.StateRunning {
		t.Fatalf("restore event %+v", e)
	}
	info := mustInfo(t, h, nid)
	if info.Name != "guest" || info.UUID != c.CInfo.UUID || info.OnlineVcpus != 3 || info.MaxVcpus != 4 ||
		info.CurrentKiB != 1<<20 || info.State != libxl.StateRunning {
		t.Fatalf("restored %+v", info)
	}
	if ud, _ := h.Userdata(ctx, nid, "k"); string(ud) != "v" {
		t.Fatalf("restore userdata %q", ud)
	}
	// The hot-plugged disk is part of the saved configuration.
	wantErr(t, h.AttachDevice(ctx, nid, diskDev("xvdb")), libxl.ErrDevExists)

	// Restore paused, with an explicit config.
	if err := savePath(h, ctx, nid, path); err != nil {
		t.Fatal(err)
	}
	pid, err := restorePath(h, ctx, c, path, libxl.CreateOptions{Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := mustInfo(t, h, pid).State; st != libxl.StatePaused {
		t.Fatalf("restored with Paused: %s", st)
	}
}

// TestSavePaused: libxl suspends through the guest, which a paused guest cannot do; libvirt refuses too.
func TestSaveFailures(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	dir := t.TempDir()
	paused := mustCreate(t, h, cfg("paused", 1024, 1), libxl.CreateOptions{Paused: true})
	down := mustCreate(t, h, cfg("down", 1024, 1), libxl.CreateOptions{})
	if err := h.ShutdownDomain(ctx, down); err != nil {
		t.Fatal(err)
	}
	running := mustCreate(t, h, cfg("running", 1024, 1), libxl.CreateOptions{})
	for _, tc := range []struct {
		name  string
		domid libxl.DomID
		path  string
		want  error
	}{
		{"paused", paused, filepath.Join(dir, "p"), libxl.ErrBadState},
		{"shut down", down, filepath.Join(dir, "d"), libxl.ErrBadState},
		{"unknown", 99, filepath.Join(dir, "u"), libxl.ErrNoDomain},
		{"dom0", 0, filepath.Join(dir, "0"), libxl.ErrDom0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, savePath(h, ctx, tc.domid, tc.path), tc.want)
			if _, err := os.Stat(tc.path); !os.IsNotExist(err) {
				t.Fatalf("failed save wrote %s", tc.path)
			}
		})
	}
	if st := mustInfo(t, h, paused).State; st != libxl.StatePaused {
		t.Fatalf("refused save changed the domain: %s", st)
	}
	// An unwritable destination leaves the guest running.
	if err := savePath(h, ctx, running, filepath.Join(dir, "no", "such", "dir")); err == nil {
		t.Fatal("save to a missing directory succeeded")
	}
	if info := mustInfo(t, h, running); info.State != libxl.StateRunning {
		t.Fatalf("after a failed save: %+v", info)
	}
}

func TestRestoreFailures(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	dir := t.TempDir()
	c := cfg("img", 1<<20, 2)
	id := mustCreate(t, h, c, libxl.CreateOptions{})
	good := filepath.Join(dir, "good")
	if err := savePath(h, ctx, id, good); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := bytes.Clone(img)
	flipped[len(flipped)/2] ^= 0xff
	core := filepath.Join(dir, "core")
	other := mustCreate(t, h, cfg("other", 1024, 1), libxl.CreateOptions{})
	if err := h.CoreDump(ctx, other, core); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		path string
		cfg  *libxl.DomainConfig
		want error
	}{
		{"missing file", filepath.Join(dir, "none"), nil, os.ErrNotExist},
		{"empty", write("empty", nil), nil, libxl.ErrInvalid},
		{"not an image", write("text", []byte("hello, this is not a save image at all, no no no")), nil, libxl.ErrInvalid},
		{"truncated", write("trunc", img[:len(img)/2]), nil, libxl.ErrInvalid},
		{"truncated trailer", write("trunc2", img[:len(img)-1]), nil, libxl.ErrInvalid},
		{"corrupt", write("flip", flipped), nil, libxl.ErrInvalid},
		{"core dump is not a save image", core, nil, libxl.ErrInvalid},
		{"vcpu mismatch", good, cfg("img", 1<<20, 3), libxl.ErrInvalid},
		{"memory below image", good, cfg("img", 1<<10, 2), libxl.ErrInvalid},
		{"out of memory", good, nil, libxl.ErrNoMemory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == libxl.ErrNoMemory {
				filler := mustCreate(t, h, cfg("filler", 2<<20, 1), libxl.CreateOptions{})
				defer h.DestroyDomain(ctx, filler)
			}
			_, err := restorePath(h, ctx, tc.cfg, tc.path, libxl.CreateOptions{})
			wantErr(t, err, tc.want)
		})
	}
	list, _ := h.ListDomains(ctx)
	if len(list) != 2 {
		t.Fatalf("failed restores left domains: %+v", list)
	}
	// The good image still restores.
	if _, err := restorePath(h, ctx, nil, good, libxl.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCoreDump(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	dir := t.TempDir()
	id := mustCreate(t, h, cfg("c", 1024, 1), libxl.CreateOptions{Paused: true})
	path := filepath.Join(dir, "core")
	if err := h.CoreDump(ctx, id, path); err != nil {
		t.Fatal(err)
	}
	if st := mustInfo(t, h, id).State; st != libxl.StatePaused {
		t.Fatalf("core dump changed the state to %s", st)
	}
	data, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(data, []byte(coreMagic)) {
		t.Fatalf("core file: %v", err)
	}
	// A crashed guest can be dumped too (on_crash=coredump-destroy).
	if err := h.InjectCrash(id); err != nil {
		t.Fatal(err)
	}
	if err := h.CoreDump(ctx, id, path); err != nil {
		t.Fatal(err)
	}
	if err := h.CoreDump(ctx, id, filepath.Join(dir, "missing", "core")); err == nil {
		t.Fatal("core dump into a missing directory succeeded")
	}
}

// TestRestoreKeepsGeneratedUUID: a domain created without a UUID gets one, and keeps it through save/restore.
func TestRestoreKeepsGeneratedUUID(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	id := mustCreate(t, h, cfg("nouuid", 1024, 1), libxl.CreateOptions{})
	uuid := mustInfo(t, h, id).UUID
	path := filepath.Join(t.TempDir(), "img")
	if err := savePath(h, ctx, id, path); err != nil {
		t.Fatal(err)
	}
	nid, err := restorePath(h, ctx, nil, path, libxl.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustInfo(t, h, nid).UUID; got != uuid {
		t.Fatalf("uuid %s after restore, was %s", got, uuid)
	}
}
