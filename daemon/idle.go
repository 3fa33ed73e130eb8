package daemon

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// errIdle ends Serve when --timeout expires.
var errIdle = errors.New("idle timeout")

// SetIdleTimeout changes --timeout at run time (virt-admin daemon-timeout); 0 disables it.
func (d *Daemon) SetIdleTimeout(t time.Duration) { d.idleTimeout.Store(int64(t)) }

// exitWhenIdle ends the daemon once it has been idle for the --timeout: no client on any socket, no guest
// running, and no domain that it must keep running (a run strategy that restarts it). libvirt's daemon keeps
// the same rule with its inhibitor; the last clause is virtxend's, since it owns the desired state.
func (d *Daemon) exitWhenIdle(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var idleSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			timeout := time.Duration(d.idleTimeout.Load())
			if timeout <= 0 || !d.idle(ctx) {
				idleSince = time.Time{}
				continue
			}
			if idleSince.IsZero() {
				idleSince = now
			}
			if now.Sub(idleSince) >= timeout {
				d.Log.Info("no client and no running domain: exiting", "timeout", timeout.String())
				return errIdle
			}
		}
	}
}

func (d *Daemon) idle(ctx context.Context) bool {
	if d.Remote.NumClients() > 0 || d.Admin.NumClients() > 0 {
		return false
	}
	for _, o := range d.Observer.List() {
		if o.Info.DomID != libxl.Dom0 && o.Owned() {
			return false
		}
	}
	list := &v1alpha1.XenDomainList{}
	if err := d.Store.List(ctx, list); err != nil {
		return false
	}
	for _, x := range list.Items {
		switch x.Spec.RunStrategy {
		case v1alpha1.RunStrategyManual, v1alpha1.RunStrategyHalted:
		default:
			return false
		}
	}
	return true
}

// Pacing of returnMemory: the reconciler must have stayed quiet for a check period after at least burstReconciles
// reconciles before the freed heap is returned.
const (
	returnMemoryPeriod = 2 * time.Second
	burstReconciles    = 256
)

// returnMemory gives the heap a burst of reconciles freed back to the operating system once the burst is over:
// starting or restarting over thousands of domains allocates several times the memory the daemon then keeps,
// and Go's runtime would otherwise return it over many minutes, or keep it as headroom for a burst that may
// never come. Start-up (reading the configuration, building the API scheme) counts as one burst; at the end of
// the first one after the daemon is ready, the live definitions read at start-up are made to share their
// objects' specs (livedefs Reshare), off the path of the start-up's reconciles. An idle daemon does nothing here
// but read an atomic counter every returnMemoryPeriod.
func (d *Daemon) returnMemory(ctx context.Context) error {
	tick := time.NewTicker(returnMemoryPeriod)
	defer tick.Stop()
	last := d.Reconciler.Reconciles.Load()
	burst := int64(burstReconciles) // reconciles since the last return; start-up itself counts as a burst
	quiet, reshared := false, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		n := d.Reconciler.Reconciles.Load()
		burst += n - last
		quiet, last = n == last, n
		if !quiet || burst < burstReconciles {
			continue
		}
		if !reshared && d.ready.Load() {
			d.Live.Reshare()
			reshared = true
		}
		debug.FreeOSMemory()
		burst = 0
	}
}
