package sim

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// TestConcurrentSmoke runs every kind of operation from several goroutines at once; run it with -race.
func TestConcurrentSmoke(t *testing.T) {
	h := newHost(t, func(o *Options) { o.ShutdownDelay = time.Millisecond; o.EventBuffer = 16 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev, err := h.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range ev {
		}
	}()
	dir := t.TempDir()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 25 {
				name := fmt.Sprintf("w%d-%d", w, i)
				id, err := h.CreateDomain(ctx, cfg(name, 4096, 2), libxl.CreateOptions{})
				if err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				_ = h.SetUserdata(ctx, id, "k", []byte(name))
				_ = h.PauseDomain(ctx, id)
				_ = h.SetVcpusOnline(ctx, id, 1)
				_ = h.UnpauseDomain(ctx, id)
				_ = h.AttachDevice(ctx, id, diskDev("xvdb"))
				_ = h.PinVcpu(ctx, id, 1, []int{w % 4})
				_, _ = h.VcpuInfo(ctx, id)
				_, _ = h.ListDomains(ctx)
				_, _ = h.HostInfo(ctx)
				_ = h.GuestPrint(id, "hi\n")
				switch i % 4 {
				case 0:
					_ = h.ShutdownDomain(ctx, id)
				case 1:
					p := fmt.Sprintf("%s/%s", dir, name)
					if err := savePath(h, ctx, id, p); err == nil {
						id, _ = restorePath(h, ctx, nil, p, libxl.CreateOptions{})
					}
				case 2:
					_ = h.InjectCrash(id)
				case 3:
					_ = h.RebootDomain(ctx, id)
					_ = h.PauseDomain(ctx, id)
				}
				if err := h.DestroyDomain(ctx, id); err != nil {
					t.Errorf("destroy %s: %v", name, err)
				}
			}
		})
	}
	wg.Wait()
	list, err := h.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("left behind: %+v", list)
	}
	if info, _ := h.HostInfo(ctx); info.FreeKiB != 3<<20 {
		t.Fatalf("memory leaked: free %d", info.FreeKiB)
	}
}

func BenchmarkCreateDestroy(b *testing.B) {
	h := newHost(b, func(o *Options) { o.TotalMemKiB = 1 << 40 })
	ctx := context.Background()
	c := cfg("bench", 64<<10, 1)
	b.ReportAllocs()
	for b.Loop() {
		id, err := h.CreateDomain(ctx, c, libxl.CreateOptions{Userdata: map[string][]byte{"virtxend": []byte("uid")}})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.DestroyDomain(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate1000 starts 1000 domains (the daemon's benchmark starts 1000 in under 2 s end to end).
func BenchmarkCreate1000(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		h := newHost(b, func(o *Options) { o.TotalMemKiB = 1 << 40 })
		b.StartTimer()
		for i := range 1000 {
			if _, err := h.CreateDomain(ctx, cfg(fmt.Sprintf("g%d", i), 64<<10, 1), libxl.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		h.Close()
		b.StartTimer()
	}
}

// TestIdleHostRunsNothing: idle guests cost no goroutines (and so no CPU): only consoles in use, event
// subscriptions and pending shutdown timers do.
func TestIdleHostRunsNothing(t *testing.T) {
	h := newHost(t, func(o *Options) { o.TotalMemKiB = 1 << 30 })
	before := runtime.NumGoroutine()
	for i := range 300 {
		id := mustCreate(t, h, cfg(fmt.Sprintf("idle%d", i), 1024, 2), libxl.CreateOptions{})
		if err := h.GuestPrint(id, "booted\n"); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("300 idle domains started %d goroutines", after-before)
	}
}
