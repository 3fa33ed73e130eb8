package remote

import (
	"context"
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
	key := client.ObjectKeyFromObject(obj)
	w, err := f.Store.Watch(ctx, &v1alpha1.XenDomainList{}, client.InNamespace(key.Namespace),
		client.MatchingFields{"metadata.name": key.Name})
	if err != nil {
		return nil, internalErr(err)
	}
	defer w.Stop()
	cur := &v1alpha1.XenDomain{}
	switch err := f.Store.Get(ctx, key, cur); {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return nil, internalErr(err)
	}
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

// act writes a one-shot lifecycle action on the object and waits for the reconciler's outcome.
func (f *Facade) act(ctx context.Context, obj *v1alpha1.XenDomain, verb v1alpha1.ActionVerb, mutate func(*v1alpha1.XenDomain)) (*v1alpha1.XenDomain, error) {
	id := uuid.NewString()
	written, err := f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		if mutate != nil {
			mutate(o)
		}
		o.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: verb}
		return nil
	})
	if err != nil {
		return nil, err
	}
	done, err := f.waitFor(ctx, written, func(o *v1alpha1.XenDomain) bool {
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
