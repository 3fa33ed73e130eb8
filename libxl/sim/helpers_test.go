package sim

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

const testBootID = "11111111-2222-3333-4444-555555555555"

// fakeClock is a settable clock for CPU-time tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testOptions are small, fast defaults: 4 GiB host, 1 GiB dom0, 4 cpus, immediate shutdowns.
func testOptions(dir string) Options {
	return Options{
		StateDir:      dir,
		TotalMemKiB:   4 << 20,
		Dom0MemKiB:    1 << 20,
		CPUs:          4,
		ShutdownDelay: -1,
		BootID:        testBootID,
		Hostname:      "simhost",
	}
}

// newHost opens a host on a fresh directory, closed when the test ends.
func newHost(t testing.TB, mod ...func(*Options)) *Host {
	t.Helper()
	opts := testOptions(t.TempDir())
	for _, m := range mod {
		m(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// cfg is a minimal PV config.
func cfg(name string, memKiB uint64, vcpus int) *libxl.DomainConfig {
	return &libxl.DomainConfig{
		CInfo: libxl.DomainCreateInfo{Type: libxl.DomainTypePV, Name: name},
		BInfo: libxl.DomainBuildInfo{MaxVcpus: vcpus, MaxMemkb: memKiB, TargetMemkb: memKiB},
	}
}

func mustCreate(t testing.TB, h *Host, c *libxl.DomainConfig, opts libxl.CreateOptions) libxl.DomID {
	t.Helper()
	id, err := h.CreateDomain(context.Background(), c, opts)
	if err != nil {
		t.Fatalf("CreateDomain(%s): %v", c.CInfo.Name, err)
	}
	return id
}

func mustInfo(t testing.TB, h *Host, id libxl.DomID) libxl.DomainInfo {
	t.Helper()
	info, err := h.DomainInfo(context.Background(), id)
	if err != nil {
		t.Fatalf("DomainInfo(%d): %v", id, err)
	}
	return info
}

func subscribe(t testing.TB, h *Host) <-chan libxl.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := h.Events(ctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return ch
}

// waitEvent returns the first event on ch of type typ for domid, failing after a deadline.
func waitEvent(t testing.TB, ch <-chan libxl.Event, typ libxl.EventType, domid libxl.DomID) libxl.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event stream closed waiting for %s of domain %d", typ, domid)
			}
			if ev.Type == typ && ev.DomID == domid {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for domain %d", typ, domid)
		}
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

var errorsIs = errors.Is

func diskDev(vdev string) libxl.Device {
	return libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{Vdev: vdev, PdevPath: "/var/lib/xen/images/" + vdev + ".img"}}
}
