package daemon

import (
	"context"
	"time"

	"github.com/virtxend/virtxend/daemon/metrics"
	"github.com/virtxend/virtxend/libxl"
)

// callObserved is the hook an RPC server offers for metrics: fn is called once per answered call with the
// procedure's name and libvirt's error code (0 for success). The metrics are wired to it where a server has it.
type callObserved interface {
	SetCallObserver(fn func(procedure string, code int, elapsed time.Duration))
}

// wireMetrics builds the metrics endpoint's collectors over the daemon's own records and hands the reconciler
// its metrics. The endpoint itself is served by serveMetrics, only when metrics_listen is set; the counters
// are kept regardless, so that turning it on needs nothing else.
func (d *Daemon) wireMetrics(counters libxl.DeviceStats) error {
	ready := func() bool {
		if !d.Observer.IsSynced() {
			return false
		}
		select {
		case <-d.Specs.Synced():
			return true
		default:
			return false
		}
	}
	srv := metrics.NewServer(ready, d.Log.WithName("metrics"))
	ctl := metrics.NewController(d.Store)
	d.Reconciler.Metrics = ctl
	rpcm := metrics.NewRPC(d.Remote, d.Admin)
	for _, s := range []interface{ Name() string }{d.Remote, d.Admin} {
		if h, ok := s.(callObserved); ok {
			name := s.Name()
			h.SetCallObserver(func(proc string, code int, elapsed time.Duration) { rpcm.CallFinished(name, proc, code, elapsed) })
		}
	}
	dom := metrics.NewDomainCollector(metrics.Sources{Observer: d.Observer, Store: d.Store, Live: d.Live, HV: d.HV, Counters: counters})
	if err := srv.Register(dom, ctl, rpcm, metrics.BuildInfo(""), metrics.Ready(ready)); err != nil {
		return err
	}
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
