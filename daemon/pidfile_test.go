package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "virtxend.pid")
	p, err := AcquirePidFile(path, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4242\n" {
		t.Fatalf("pid file holds %q", b)
	}
	if _, err := AcquirePidFile(path, 4343); err == nil || !strings.Contains(err.Error(), "pid 4242") {
		t.Fatalf("second acquire: err = %v, want a refusal naming pid 4242", err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pid file still there after release: %v", err)
	}
	// A stale file left by a crashed run (no lock held) is taken over.
	if err := os.WriteFile(path, []byte("99999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = AcquirePidFile(path, os.Getpid())
	if err != nil {
		t.Fatalf("take over stale pid file: %v", err)
	}
	defer p.Release()
	if b, _ := os.ReadFile(path); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("pid file holds %q", b)
	}
}
