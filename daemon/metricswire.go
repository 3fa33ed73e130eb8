package daemon

import (
	"context"
	"time"

	"github.com/virtxend/virtxend/daemon/metrics"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// wireMetrics builds the metrics endpoint's collectors over the daemon's own records and hands the reconciler
// its metrics. The endpoint itself is served by serveMetrics, only when metrics_listen is set; the counters
// are kept regardless, so that turning it on needs nothing else.
func (d *Daemon) wireMetrics(counters libxl.DeviceStats) error {
	ready := func() bool {
		if !d.Observer.IsSynced() {
			return false
		}
		for _, ch := range d.objects.ready { // the local sources' first loads
			select {
			case <-ch:
			default:
				return false
			}
		}
		// In fleet mode the endpoint is ready once the cache has listed this node's objects (virsh and sd_notify
		// do not wait for the API server; a scraper's view of the objects does).
		return d.Fleet == nil || d.Fleet.hasSynced()
	}
	srv := metrics.NewServer(ready, d.Log.WithName("metrics"))
	objects := metrics.StoreObjects(d.Store)
	if d.Fleet != nil { // this node's objects, from the manager's cache
		objects = d.Fleet.Objects().Domains
	}
	ctl := metrics.NewController(objects)
	d.Reconciler.Metrics = ctl
	rpcm := metrics.NewRPC(d.Remote, d.Admin)
	for _, s := range []*rpc.Server{d.Remote, d.Admin} {
		if s == nil {
			continue
		}
		name := s.Name()
		s.SetCallObserver(func(proc string, code int, elapsed time.Duration) { rpcm.CallFinished(name, proc, code, elapsed) })
	}
	dom := metrics.NewDomainCollector(metrics.Sources{Observer: d.Observer, Objects: objects, Live: d.Live, HV: d.HV, Counters: counters})
	if err := srv.Register(ctl, rpcm, metrics.BuildInfo(""), metrics.Ready(ready)); err != nil {
		return err
	}
	srv.AddSections(dom, ctl)
	d.Metrics = srv
	return nil
}

// serveMetrics serves the metrics endpoint on metrics_listen until ctx ends; nothing when it is empty.
func (d *Daemon) serveMetrics(ctx context.Context) error {
	if d.Config.MetricsListen == "" {
		return nil
	}
	l, err := metrics.Listen(d.Config.MetricsListen)
	if err != nil {
		return err
	}
	d.Log.Info("serving metrics", "listen", d.Config.MetricsListen)
	return d.Metrics.Serve(ctx, l)
}
