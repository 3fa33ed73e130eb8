package remote

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// update applies mutate to the current version of obj and writes it, retrying when another writer got there
// first. It returns the object as written.
func (f *Facade) update(ctx context.Context, obj *v1alpha1.XenDomain, mutate func(*v1alpha1.XenDomain) error) (*v1alpha1.XenDomain, error) {
	key := client.ObjectKeyFromObject(obj)
	for {
		cur := &v1alpha1.XenDomain{}
		if err := f.Store.Get(ctx, key, cur); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
			}
			return nil, internalErr(err)
		}
		if err := mutate(cur); err != nil {
			return nil, err
		}
		err := f.Store.Update(ctx, cur)
		if err == nil {
			return cur, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, internalErr(err)
		}
		if ctx.Err() != nil {
			return nil, timeoutErr()
		}
	}
}

// waitFor waits until cond holds for the object named like obj, and returns that version. A deleted object
// makes cond see nil.
func (f *Facade) waitFor(ctx context.Context, obj *v1alpha1.XenDomain, cond func(*v1alpha1.XenDomain) bool) (*v1alpha1.XenDomain, error) {
	ctx, cancel := f.ctxFor(ctx)
	defer cancel()
	w, err := f.watch(ctx, obj)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	cur := &v1alpha1.XenDomain{}
	switch err := f.Store.Get(ctx, client.ObjectKeyFromObject(obj), cur); {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return nil, internalErr(err)
	}
	return f.waitOn(ctx, w, obj, cur, cond)
}

// watch opens a watch on the object named like obj: opened before a write, it sees every change after it.
func (f *Facade) watch(ctx context.Context, obj *v1alpha1.XenDomain) (watch.Interface, error) {
	key := client.ObjectKeyFromObject(obj)
	w, err := f.Store.Watch(ctx, &v1alpha1.XenDomainList{}, client.InNamespace(key.Namespace),
		client.MatchingFields{"metadata.name": key.Name})
	if err != nil {
		return nil, internalErr(err)
	}
	return w, nil
}

// waitOn waits on w, from the version cur, until cond holds.
func (f *Facade) waitOn(ctx context.Context, w watch.Interface, obj, cur *v1alpha1.XenDomain, cond func(*v1alpha1.XenDomain) bool) (*v1alpha1.XenDomain, error) {
	for {
		if cond(cur) {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return nil, timeoutErr()
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The watch fell behind: read again and keep waiting on a new one.
				return f.waitFor(ctx, obj, cond)
			}
			switch ev.Type {
			case watch.Deleted:
				cur = nil
			case watch.Added, watch.Modified:
				if o, ok := ev.Object.(*v1alpha1.XenDomain); ok {
					cur = o
				}
			}
		}
	}
}

// pendingAction reports whether the object carries an action the reconciler has not reported yet.
func pendingAction(o *v1alpha1.XenDomain) bool {
	return o.Spec.Action != nil && (o.Status.LastAction == nil || o.Status.LastAction.ID != o.Spec.Action.ID)
}

// errActionPending makes update give way to an action in progress.
var errActionPending = errors.New("an action is in progress")

// act writes a one-shot lifecycle action on the object and waits for the reconciler's outcome. Like libvirt's
// job lock, it first waits for an action another call started on the same domain.
func (f *Facade) act(ctx context.Context, obj *v1alpha1.XenDomain, verb v1alpha1.ActionVerb, mutate func(*v1alpha1.XenDomain)) (*v1alpha1.XenDomain, error) {
	ctx, cancel := f.ctxFor(ctx)
	defer cancel()
	id := uuid.NewString()
	// Watch first: the outcome of this action must be seen even if another action follows it at once.
	w, err := f.watch(ctx, obj)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var written *v1alpha1.XenDomain
	for {
		var err error
		written, err = f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
			if pendingAction(o) {
				return errActionPending
			}
			if mutate != nil {
				mutate(o)
			}
			o.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: verb}
			return nil
		})
		if !errors.Is(err, errActionPending) {
			if err != nil {
				return nil, err
			}
			break
		}
		if _, err := f.waitFor(ctx, obj, func(o *v1alpha1.XenDomain) bool { return o == nil || !pendingAction(o) }); err != nil {
			return nil, err
		}
	}
	done, err := f.waitOn(ctx, w, written, written, func(o *v1alpha1.XenDomain) bool {
		return o == nil || (o.Status.LastAction != nil && o.Status.LastAction.ID == id)
	})
	if err != nil {
		return nil, err
	}
	if done == nil {
		return nil, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
	}
	if msg := done.Status.LastAction.Error; msg != "" {
		return done, actionErr(msg)
	}
	return done, nil
}

// actionErr maps the reconciler's account of a failed action to libvirt's error.
func actionErr(msg string) error {
	switch {
	case strings.Contains(msg, "already running"):
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is already running")
	case strings.Contains(msg, "not running"):
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is not running")
	case strings.Contains(msg, "not enough free memory"):
		return rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, msg)
	}
	return rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, msg)
}

func timeoutErr() error {
	return rpc.NewError(rpc.CodeOperationTimeout, rpc.DomainNone, "cannot acquire state change lock: the reconciler did not answer in time")
}
