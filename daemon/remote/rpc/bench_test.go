package rpc

import (
	"sync"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"
)

// benchRoundTrip measures CONNECT_GET_TYPE round trips from clients concurrent go-libvirt clients (FACTS.md has
// libvirtd's numbers for the same rounds: 5-7 k calls/s from 1 client, ~18 k/s from 16).
func benchRoundTrip(b *testing.B, clients int) {
	ts := startServer(b, Options{}, ListenerOpts{})
	ls := make([]*libvirt.Libvirt, clients)
	for i := range ls {
		ls[i] = dialLibvirt(b, ts.path)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / clients
	for i, l := range ls {
		n := per
		if i == 0 {
			n += b.N % clients
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if _, err := l.ConnectGetType(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkRoundTrip1 is one client calling in a loop.
func BenchmarkRoundTrip1(b *testing.B) { benchRoundTrip(b, 1) }

// BenchmarkRoundTrip16 is 16 clients calling in parallel.
func BenchmarkRoundTrip16(b *testing.B) { benchRoundTrip(b, 16) }
