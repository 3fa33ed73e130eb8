package sim

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/libxl"
)

// readUntil reads f until what it read contains want, failing after a deadline.
func readUntil(t *testing.T, f *os.File, want string) string {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("pty does not support deadlines: %v", err)
	}
	var got strings.Builder
	buf := make([]byte, 1024)
	for !strings.Contains(got.String(), want) {
		n, err := f.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("reading console for %q: %v (got %q)", want, err, got.String())
		}
	}
	return got.String()
}

func openConsoleClient(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestConsole(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	id := mustCreate(t, h, cfg("web", 1024, 1), libxl.CreateOptions{})
	if err := h.GuestPrint(id, "early kernel message\r\n"); err != nil {
		t.Fatal(err)
	}
	path, err := h.ConsolePath(ctx, id, libxl.ConsolePV, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, "/dev/pts/") {
		t.Fatalf("console path %q", path)
	}
	if again, _ := h.ConsolePath(ctx, id, libxl.ConsolePV, 0); again != path {
		t.Fatalf("console moved from %s to %s", path, again)
	}
	con := openConsoleClient(t, path)
	out := readUntil(t, con, "early kernel message")
	if !strings.Contains(out, "Xen simulated guest web booting") || !strings.Contains(out, "web login: ") {
		t.Fatalf("boot output %q", out)
	}
	if _, err := con.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, con, "hello\n")
	if _, err := con.Write([]byte("root\r")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, con, "root\r\n")
	if err := h.GuestPrint(id, "later output"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, con, "later output")

	// A client that goes away does not take the console with it.
	con.Close()
	con2 := openConsoleClient(t, path)
	if _, err := con2.Write([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, con2, "again\n")

	// Destroying the domain hangs up the console.
	if err := h.DestroyDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	con2.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for {
		if _, err := con2.Read(buf); err != nil {
			if os.IsTimeout(err) {
				t.Fatal("console still open after destroy")
			}
			break
		}
	}
}

func TestConsoleKinds(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	pv := mustCreate(t, h, cfg("pv", 1024, 1), libxl.CreateOptions{})
	hc := cfg("hvm", 1024, 1)
	hc.CInfo.Type = libxl.DomainTypeHVM
	hvm := mustCreate(t, h, hc, libxl.CreateOptions{})
	for _, tc := range []struct {
		name  string
		domid libxl.DomID
		kind  libxl.ConsoleKind
		n     int
		want  error
	}{
		{"pv console of pv", pv, libxl.ConsolePV, 0, nil},
		{"serial of pv", pv, libxl.ConsoleSerial, 0, libxl.ErrNoDevice},
		{"second console", pv, libxl.ConsolePV, 1, libxl.ErrNoDevice},
		{"serial of hvm", hvm, libxl.ConsoleSerial, 0, nil},
		{"pv console of hvm", hvm, libxl.ConsolePV, 0, nil},
		{"bad kind", hvm, libxl.ConsoleKind(9), 0, libxl.ErrInvalid},
		{"unknown domain", 99, libxl.ConsolePV, 0, libxl.ErrNoDomain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.ConsolePath(ctx, tc.domid, tc.kind, tc.n)
			if tc.want == nil && err != nil || tc.want != nil && !errorsIs(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestConsoleAfterRestart: the old daemon's pty is gone; the guest gets a new one and is still there.
func TestConsoleAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	h1, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, h1, cfg("db", 1024, 1), libxl.CreateOptions{})
	if _, err := h1.ConsolePath(ctx, id, libxl.ConsolePV, 0); err != nil {
		t.Fatal(err)
	}
	h1.Close()
	h2, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	path, err := h2.ConsolePath(ctx, id, libxl.ConsolePV, 0)
	if err != nil {
		t.Fatal(err)
	}
	con := openConsoleClient(t, path)
	out := readUntil(t, con, "db login: ")
	if strings.Contains(out, "booting") {
		t.Fatalf("guest booted again after a daemon restart: %q", out)
	}
	con.Write([]byte("x\n"))
	readUntil(t, con, "x\n")
}

// TestConsolesAreLazy: domains without a console reader hold no pty.
func TestConsolesAreLazy(t *testing.T) {
	h := newHost(t)
	for i := range 50 {
		id := mustCreate(t, h, cfg("lazy"+string(rune('a'+i%26))+string(rune('a'+i/26)), 1024, 1), libxl.CreateOptions{})
		if err := h.GuestPrint(id, "boot\n"); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.doms {
		if d.console != nil {
			t.Fatalf("domain %d has a pty nobody asked for", d.id)
		}
	}
}
