package specdir

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
)

// settledPair is a stored object and the want a pass found equal to it.
type settledPair struct {
	stored *v1alpha1.XenDomain
	obj    *v1alpha1.XenDomain
	srcErr string
}

// passWork counts the per-domain work of one pass: files stat'ed or read, and objects compared with their file.
type passWork struct {
	read, merged int
}

// knownPlus returns the paths of the last pass plus those of only that are relevant and not yet known, sorted.
// It does not touch the disk: readAll drops the paths that no longer exist.
func (l *Loader) knownPlus(only map[string]bool) []string {
	var added []string
	for p := range only {
		if _, known := slices.BinarySearch(l.paths, p); !known && relevant(p[len(l.dir)+1:]) {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return l.paths
	}
	paths := append(slices.Clip(l.paths), added...)
	slices.Sort(paths)
	return paths
}

// listObjects returns the XenDomain objects of the local namespace. From the local store they are its own
// immutable objects, listed without a copy (a pass must not cost a deep copy of every domain); from any other
// client they are copies.
func (l *Loader) listObjects(ctx context.Context) ([]*v1alpha1.XenDomain, error) {
	if st, ok := l.c.(*store.Store); ok {
		objs, err := store.SharedList[*v1alpha1.XenDomain](st, v1alpha1.LocalNamespace)
		if err != nil {
			return nil, fmt.Errorf("list XenDomain objects: %w", err)
		}
		l.sharedObjects = true
		return objs, nil
	}
	var list v1alpha1.XenDomainList
	if err := l.c.List(ctx, &list, client.InNamespace(v1alpha1.LocalNamespace)); err != nil {
		return nil, fmt.Errorf("list XenDomain objects: %w", err)
	}
	l.sharedObjects = false
	objs := make([]*v1alpha1.XenDomain, len(list.Items))
	for i := range list.Items {
		objs[i] = &list.Items[i]
	}
	return objs, nil
}
