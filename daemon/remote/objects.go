package remote

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
)

// DomainReader is the facade's read path: the XenDomain objects of this host's view, without a copy each, for
// the hot lookups of every call (virsh list asks for every domain's state). The objects it returns are shared
// with their holder: never modify them.
type DomainReader interface {
	// Domains returns every object of this host's view.
	Domains(ctx context.Context) ([]*v1alpha1.XenDomain, error)
	// DomainByName returns the object whose domain (XenDomain.DomainName) is name, or nil.
	DomainByName(ctx context.Context, name string) (*v1alpha1.XenDomain, error)
}

// LocalObjects reads the local object store, where an object is stored under its domain's name in
// v1alpha1.LocalNamespace.
func LocalObjects(s *store.Store) DomainReader { return localObjects{s} }

type localObjects struct{ s *store.Store }

func (l localObjects) Domains(context.Context) ([]*v1alpha1.XenDomain, error) {
	return store.SharedList[*v1alpha1.XenDomain](l.s, v1alpha1.LocalNamespace)
}

func (l localObjects) DomainByName(_ context.Context, name string) (*v1alpha1.XenDomain, error) {
	obj, err := store.Shared[*v1alpha1.XenDomain](l.s, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name})
	if err != nil || obj == nil || obj.DomainName() != name {
		return nil, err
	}
	return obj, nil
}

// CachedObjects reads a controller-runtime cache (fleet mode: the node's view of the API server), whose objects
// are named by whoever wrote them, in any namespace: a lookup by domain name goes through the index
// IndexDomainName, which the cache must have (IndexDomainNames adds it).
func CachedObjects(r client.Reader) DomainReader { return cachedObjects{r} }

// IndexDomainName is the cache index of XenDomain objects by XenDomain.DomainName.
const IndexDomainName = "virtxend.io/domainName"

// IndexDomainNames adds IndexDomainName to a cache's field indexer.
func IndexDomainNames(ctx context.Context, fi client.FieldIndexer) error {
	return fi.IndexField(ctx, &v1alpha1.XenDomain{}, IndexDomainName, func(o client.Object) []string {
		return []string{o.(*v1alpha1.XenDomain).DomainName()}
	})
}

type cachedObjects struct{ r client.Reader }

func (c cachedObjects) Domains(ctx context.Context) ([]*v1alpha1.XenDomain, error) {
	var list v1alpha1.XenDomainList
	if err := c.r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	out := make([]*v1alpha1.XenDomain, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (c cachedObjects) DomainByName(ctx context.Context, name string) (*v1alpha1.XenDomain, error) {
	var list v1alpha1.XenDomainList
	if err := c.r.List(ctx, &list, client.MatchingFields{IndexDomainName: name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("look up domain %q: %w", name, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	// Two objects naming one domain (in two namespaces) is the operator's error; the older one keeps the name,
	// as the first define of a name keeps it in libvirt.
	first := &list.Items[0]
	for i := range list.Items[1:] {
		if o := &list.Items[i+1]; o.CreationTimestamp.Before(&first.CreationTimestamp) {
			first = o
		}
	}
	return first, nil
}
