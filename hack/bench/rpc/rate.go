package main

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/hack/bench/internal/proc"
)

// measureRate makes m's call in a loop on m.clients clients for dur: the first of d's go-libvirt connections, or
// raw connections of their own when m is raw. It returns the rate, the daemon's CPU time per call and the
// latencies' p50 and p99. Client k starts its count at k×7919, so that calls about domains spread over them.
func measureRate(d *daemon, m measurement, dur time.Duration) (rate, error) {
	clients, c := m.clients, m.call
	cpu0 := cpuSeconds(d.pid)
	if m.raw != nil {
		perSec, lats, err := rawRate(d.sock, d.openURI, clients, dur, m.raw(d))
		if err != nil {
			return rate{}, fmt.Errorf("raw client: %w", err)
		}
		return summarize(perSec, cpuSeconds(d.pid)-cpu0, lats), nil
	}
	var stop atomic.Bool
	var calls atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, clients)
	lats := make([][]time.Duration, clients)
	start := time.Now()
	for k, l := range d.clients[:clients] {
		wg.Add(1)
		go func(k int, l *libvirt.Libvirt) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			n := 0
			for !stop.Load() {
				t := time.Now()
				if err := c(d, l, k*7919+n); err != nil {
					errs[k] = err
					return
				}
				lat = append(lat, time.Since(t))
				n++
			}
			lats[k] = lat
			calls.Add(int64(n))
		}(k, l)
	}
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	perSec := float64(calls.Load()) / time.Since(start).Seconds()
	return summarize(perSec, cpuSeconds(d.pid)-cpu0, lats), errors.Join(errs...)
}

// summarize turns a measurement's rate, CPU seconds and latencies into a rate.
func summarize(perSec, cpu float64, lats [][]time.Duration) rate {
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := rate{perSec: perSec}
	if len(all) > 0 {
		r.cpuPerCall = cpu / float64(len(all))
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

// medianRate is the median of each figure of several rounds.
func medianRate(rs []rate) rate {
	var per, cpu, p50, p99 []float64
	for _, r := range rs {
		per, cpu = append(per, r.perSec), append(cpu, r.cpuPerCall)
		p50, p99 = append(p50, float64(r.p50)), append(p99, float64(r.p99))
	}
	if len(rs) == 0 {
		return rate{}
	}
	return rate{perSec: median(per), cpuPerCall: median(cpu), p50: time.Duration(median(p50)), p99: time.Duration(median(p99))}
}

// cpuSeconds is a process's user and system CPU time so far.
func cpuSeconds(pid int) float64 { return float64(proc.CPUTicks(pid)) / proc.HZ }

// slopeKiB is a daemon's resident memory per domain: what its n domains added, over n.
func slopeKiB(d *daemon, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f KiB", (d.rssFull-d.rssEmpty)*1024/float64(n))
}
