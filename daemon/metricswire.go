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
		for _, ch := range d.objects.ready { // the local sources' first loads; nothing more in fleet mode
			select {
			case <-ch:
			default:
				return false
			}
		}
		return true
	}
	srv := metrics.NewServer(ready, d.Log.WithName("metrics"))
	ctl := metrics.NewController(d.Store)
	d.Reconciler.Metrics = ctl
	rpcm := metrics.NewRPC(d.Remote, d.Admin)
	for _, s := range []*rpc.Server{d.Remote, d.Admin} {
		if s == nil {
			continue
		}
		name := s.Name()
		s.SetCallObserver(func(proc string, code int, elapsed time.Duration) { rpcm.CallFinished(name, proc, code, elapsed) })
	}
	dom := metrics.NewDomainCollector(metrics.Sources{Observer: d.Observer, Store: d.Store, Live: d.Live, HV: d.HV, Counters: counters})
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
