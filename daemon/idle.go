package daemon

import (
	"context"
	"errors"
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
