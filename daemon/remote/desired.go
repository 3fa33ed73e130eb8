package remote

import (
	"context"
	"errors"

	"github.com/digitalocean/go-libvirt"
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
		base := cur.DeepCopy()
		if err := mutate(cur); err != nil {
			return nil, err
		}
		var err error
		if f.FleetNode != "" {
			// Only what mutate changed: the API server's node isolation lets a node write the lifecycle fields,
			// not the rest of the object, which a full update would send back re-encoded.
			err = f.Store.Patch(ctx, cur, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		} else {
			err = f.Store.Update(ctx, cur)
		}
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

// waitFor waits until cond holds for the object named like obj, for at most the wait for a turn (Timeout), and
// returns that version. A deleted object makes cond see nil.
func (f *Facade) waitFor(ctx context.Context, obj *v1alpha1.XenDomain, cond func(*v1alpha1.XenDomain) bool) (*v1alpha1.XenDomain, error) {
	ctx, cancel := f.ctxFor(ctx)
	defer cancel()
	return f.waitUntil(ctx, obj, cond)
}

// waitOutcome is waitFor for the outcome of the caller's own operation: it waits up to OperationTimeout.
func (f *Facade) waitOutcome(ctx context.Context, obj *v1alpha1.XenDomain, cond func(*v1alpha1.XenDomain) bool) (*v1alpha1.XenDomain, error) {
	ctx, cancel := f.ctxForOutcome(ctx)
	defer cancel()
	o, err := f.waitUntil(ctx, obj, cond)
	return o, outcomeErr(ctx, err)
}

// outcomeErr is err, or when the wait for an operation's outcome ran out (ctx), the error that says so.
func outcomeErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return rpc.NewError(rpc.CodeOperationTimeout, rpc.DomainNone,
			"the reconciler did not finish the operation in time")
	}
	return err
}

// waitUntil waits until cond holds for the object named like obj or ctx ends.
func (f *Facade) waitUntil(ctx context.Context, obj *v1alpha1.XenDomain, cond func(*v1alpha1.XenDomain) bool) (*v1alpha1.XenDomain, error) {
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
				// The watch fell behind: read again and keep waiting on a new one, within the same deadline.
				return f.waitUntil(ctx, obj, cond)
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

// act writes a one-shot lifecycle action on the object and waits for the reconciler's outcome (OperationTimeout).
// Like libvirt's job lock, it first waits for an action another call started on the same domain (Timeout).
func (f *Facade) act(ctx context.Context, obj *v1alpha1.XenDomain, verb v1alpha1.ActionVerb, mutate func(*v1alpha1.XenDomain)) (*v1alpha1.XenDomain, error) {
	opCtx, cancelOp := f.ctxForOutcome(ctx)
	defer cancelOp()
	ctx, cancel := f.ctxFor(opCtx)
	defer cancel()
	id := uuid.NewString()
	// Watch first: the outcome of this action must be seen even if another action follows it at once.
	w, err := f.watch(opCtx, obj)
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
			o.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: verb}
			if mutate != nil {
				mutate(o) // after the action is set: it may complete it (SetLive's definition)
			}
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
	done, err := f.waitOn(opCtx, w, written, written, func(o *v1alpha1.XenDomain) bool {
		return o == nil || (o.Status.LastAction != nil && o.Status.LastAction.ID == id)
	})
	if err != nil {
		return nil, outcomeErr(opCtx, err)
	}
	if done == nil {
		return nil, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
	}
	if done.Status.LastAction.Error != "" {
		return done, actionErr(done.Status.LastAction)
	}
	return done, nil
}

// Libvirt error domains the facade raises that the rpc package does not name.
const domainNetwork rpc.ErrorDomain = 19 // VIR_FROM_NETWORK

// failureErrors is the one table from the reconciler's classes of action failures to libvirt's error codes and
// error domains; the message is the reconciler's, in libvirt's words.
var failureErrors = map[v1alpha1.ActionFailure]struct {
	code   rpc.Code
	domain rpc.ErrorDomain
}{
	v1alpha1.FailureAlreadyRunning:      {rpc.CodeOperationInvalid, rpc.DomainLibxl},
	v1alpha1.FailureNotRunning:          {rpc.CodeOperationInvalid, rpc.DomainDomain},
	v1alpha1.FailureInvalidConfig:       {rpc.CodeInternalError, rpc.DomainLibxl},
	v1alpha1.FailureUnsupportedConfig:   {rpc.CodeConfigUnsupported, rpc.DomainLibxl},
	v1alpha1.FailureOperationInvalid:    {rpc.CodeOperationInvalid, rpc.DomainLibxl},
	v1alpha1.FailureNoMemory:            {rpc.CodeOperationFailed, rpc.DomainLibxl},
	v1alpha1.FailureNetworkNotFound:     {rpc.CodeNoNetwork, domainNetwork},
	v1alpha1.FailureStoragePoolNotFound: {rpc.CodeNoStoragePool, rpc.DomainStorage},
	v1alpha1.FailureStorageVolNotFound:  {rpc.CodeNoStorageVol, rpc.DomainStorage},
	v1alpha1.FailureMigrationFailed:     {rpc.CodeOperationFailed, rpc.DomainLibxl},
	v1alpha1.FailureAborted:             {rpc.CodeOperationAborted, rpc.DomainLibxl},
	v1alpha1.FailureDriverUnavailable:   {rpc.CodeSystemError, rpc.DomainRPC},
	v1alpha1.FailureNameInUse:           {rpc.CodeOperationFailed, rpc.DomainLibxl},
	v1alpha1.FailureSaveFile:            {rpc.CodeSystemError, rpc.DomainLibxl},
	v1alpha1.FailureBadImage:            {rpc.CodeOperationFailed, rpc.DomainLibxl},
	v1alpha1.FailureHypervisorError:     {rpc.CodeInternalError, rpc.DomainLibxl},
}

// actionErr maps the reconciler's report of a failed action to libvirt's error by its class; a report without
// one (an older daemon's) is an internal error.
func actionErr(res *v1alpha1.ActionResult) error {
	e, ok := failureErrors[res.Reason]
	if !ok {
		e = failureErrors[v1alpha1.FailureHypervisorError]
	}
	return rpc.NewError(e.code, e.domain, res.Error)
}

// timeoutErr is the error of a call whose action the reconciler did not report within the call's deadline.
func timeoutErr() error {
	return rpc.NewError(rpc.CodeOperationTimeout, rpc.DomainNone, "cannot acquire state change lock: the reconciler did not answer in time")
}

// lockTimeoutErr is the error of a call that did not get its domain's job lock within the deadline, as libvirt's
// virDomainObjBeginJob reports it.
func lockTimeoutErr() error {
	return rpc.NewError(rpc.CodeOperationTimeout, rpc.DomainNone, "cannot acquire state change lock")
}

// lockDomain takes the job lock of the domain named name with UUID uuid, for a call that changes it. Held until
// the call's outcome is acknowledged, it orders define, undefine, create, start, destroy (and the reconciler's
// cleanup of a transient domain) on one name or UUID, as libvirt's per-domain job does: the state after any
// interleaving is the state of the last acknowledged call.
func (f *Facade) lockDomain(ctx context.Context, name, uuid string) (unlock func(), err error) {
	ctx, cancel := f.ctxFor(ctx)
	defer cancel()
	unlock, err = f.Locks.Lock(ctx, name, uuid)
	if err != nil {
		return nil, lockTimeoutErr()
	}
	return unlock, nil
}

// lockedLookup takes the job lock of the domain a call names and looks the domain up under it: what the call
// decides on is what the previous holder left.
func (f *Facade) lockedLookup(ctx context.Context, w libvirt.Domain) (*dom, func(), error) {
	unlock, err := f.lockDomain(ctx, w.Name, uuidString(w.UUID))
	if err != nil {
		return nil, nil, err
	}
	d, err := f.lookup(ctx, w)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return d, unlock, nil
}

// createObject creates obj. An object of that name on its way out (deleted, the reconciler not yet done with
// it) is waited for first: libvirt has forgotten that domain already. An object that stays gives AlreadyExists.
func (f *Facade) createObject(ctx context.Context, obj *v1alpha1.XenDomain) error {
	for {
		err := f.Store.Create(ctx, obj)
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		cur := &v1alpha1.XenDomain{}
		switch gerr := f.Store.Get(ctx, client.ObjectKeyFromObject(obj), cur); {
		case apierrors.IsNotFound(gerr):
			continue // gone meanwhile
		case gerr != nil:
			return gerr
		case cur.DeletionTimestamp.IsZero():
			return err
		}
		uid := cur.UID
		if _, werr := f.waitFor(ctx, cur, func(o *v1alpha1.XenDomain) bool { return o == nil || o.UID != uid }); werr != nil {
			return werr
		}
	}
}

// forgetTransient removes the object of a transient domain its call stopped, and waits until it is gone:
// libvirt removes a transient domain from its list before destroy returns. The caller holds the domain's lock,
// so the reconciler leaves this cleanup to it.
func (f *Facade) forgetTransient(ctx context.Context, obj *v1alpha1.XenDomain) error {
	uid := obj.UID
	err := f.Store.Delete(ctx, obj, client.Preconditions{UID: &uid})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil // gone already, or replaced by a new domain of that name
	case err != nil:
		return internalErr(err)
	}
	_, err = f.waitFor(ctx, obj, func(o *v1alpha1.XenDomain) bool { return o == nil || o.UID != uid })
	return err
}
