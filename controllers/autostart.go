package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// Autostarter starts the domains marked autostart once per host boot, as libvirt does: it records the host's
// boot id in a flag file, so that restarting the daemon (or a --timeout exit and socket re-activation) does not
// start them again.
type Autostarter struct {
	Client     client.Reader
	Reconciler *XenDomainReconciler
	// FlagFile records the boot id autostart last ran for (state_dir/autostarted).
	FlagFile string
	// BootID identifies this host boot.
	BootID string
	// Parallel is how many autostarted domains may be starting at once (0: the reconciler's concurrency).
	Parallel int
	Log      logr.Logger
}

// Run autostarts once, after the hypervisor and every source of objects have been fully read (ready).
func (a *Autostarter) Run(ctx context.Context, ready ...<-chan struct{}) error {
	for _, ch := range append(ready, a.Reconciler.Observer.Synced()) {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
	if b, err := os.ReadFile(a.FlagFile); err == nil && strings.TrimSpace(string(b)) == a.BootID {
		a.Log.V(1).Info("autostart already done for this host boot")
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read autostart flag: %w", err)
	}
	list := &v1alpha1.XenDomainList{}
	// Read only: the items may share the store's (or the cache's) objects instead of copying every domain.
	if err := a.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("autostart: list domains: %w", err)
	}
	var todo []*v1alpha1.XenDomain
	for i := range list.Items {
		d := &list.Items[i]
		if d.Spec.Autostart && d.Spec.RunStrategy == v1alpha1.RunStrategyManual && d.DeletionTimestamp.IsZero() &&
			a.Reconciler.Observer.Lookup(d.DomainUUID()) == nil {
			todo = append(todo, d)
		}
	}
	a.Log.Info("autostart", "domains", len(todo))
	a.Reconciler.autostart(todo, a.Parallel)
	if err := os.MkdirAll(filepath.Dir(a.FlagFile), 0o755); err != nil {
		return fmt.Errorf("autostart flag: %w", err)
	}
	return os.WriteFile(a.FlagFile, []byte(a.BootID+"\n"), 0o644)
}

// autostart marks objects to be started once and queues them; with parallel > 0, at most that many of them
// are being created at any moment (see startAutostarted).
func (r *XenDomainReconciler) autostart(objs []*v1alpha1.XenDomain, parallel int) {
	r.mu.Lock()
	if r.names == nil {
		r.names = map[string]types.NamespacedName{}
		r.runtime = map[string]*runtimeState{}
	}
	if parallel > 0 {
		r.autostartSem = make(chan struct{}, parallel)
	}
	for _, o := range objs {
		rt := r.runtime[o.DomainUUID()]
		if rt == nil {
			rt = &runtimeState{}
			r.runtime[o.DomainUUID()] = rt
		}
		rt.autostart.Store(true)
		r.names[o.DomainUUID()] = client.ObjectKeyFromObject(o)
	}
	r.mu.Unlock()
	for _, o := range objs {
		r.enqueueUUID(o.DomainUUID())
	}
}

// startAutostarted starts a domain marked for autostart, holding one of the autostart slots meanwhile.
func (r *XenDomainReconciler) startAutostarted(ctx context.Context, s *scope) error {
	r.mu.Lock()
	sem := r.autostartSem
	r.mu.Unlock()
	if sem != nil {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.start(ctx, s, DetailStartedBooted)
}
