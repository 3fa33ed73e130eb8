package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// DefaultWatchBuffer is how many events a watcher may lag behind the writers before it is closed, unless
// Options.WatchBuffer says otherwise.
const DefaultWatchBuffer = 1024

// FieldSpecNodeName is the field selector key of XenDomain's spec.nodeName, registered by New whenever the
// scheme knows XenDomain (fleet mode selects it server-side through the CRD's selectableFields).
const FieldSpecNodeName = "spec.nodeName"

// FieldDomainUUID is the field selector key of XenDomain.DomainUUID, registered (and indexed) by New whenever
// the scheme knows XenDomain: SharedByField finds a domain by UUID without a scan.
const FieldDomainUUID = "virtxend.io/domainUUID"

// Options configures a Store.
type Options struct {
	// ClusterScoped lists the kinds that are not namespaced; every other kind is namespaced.
	ClusterScoped []schema.GroupVersionKind
	// WatchBuffer is the per-watcher event buffer of Watch, ListAndWatch and the controller source;
	// DefaultWatchBuffer when zero.
	WatchBuffer int
	// Now returns the time stamped on creationTimestamp and deletionTimestamp; time.Now when nil.
	Now func() time.Time
	// OnCreate, when set, may change every object Create is about to store (its own copy), as an API server's
	// mutating admission does: what it sets is there from the object's first version and first watch event.
	OnCreate func(client.Object)
}

// Store is an in-memory object store with API-server semantics; see the package documentation. It is safe for
// concurrent use. The zero value is not usable: call New.
type Store struct {
	scheme      *runtime.Scheme
	mapper      *meta.DefaultRESTMapper
	now         func() time.Time
	watchBuffer int
	onCreate    func(client.Object)

	// kinds is filled by New and read-only afterwards, and so is byType (the same kinds by their struct type);
	// the kindStores' contents are guarded by mu.
	kinds  map[schema.GroupVersionKind]*kindStore
	byType map[reflect.Type]*kindStore

	mu sync.RWMutex
	rv uint64 // the resourceVersion of the last write, to any kind
}

var (
	_ client.WithWatch    = (*Store)(nil)
	_ client.FieldIndexer = (*Store)(nil)
)

// kindStore holds the objects of one kind. Every stored object, and everything reachable from it, is immutable:
// a write stores a new object and never modifies the one it replaces.
type kindStore struct {
	gvk        schema.GroupVersionKind
	listGVK    schema.GroupVersionKind // empty when the scheme registers no list type
	resource   schema.GroupResource
	typ        reflect.Type // the object's struct type
	namespaced bool
	hasStatus  bool // the struct has a Status field, served as the status subresource

	objs   map[types.NamespacedName]client.Object
	uids   map[types.UID]types.NamespacedName
	lastRV uint64 // the resourceVersion of the last write to this kind
	subs   map[*Subscription]struct{}
	fields map[string]client.IndexerFunc
	index  map[string]fieldIndex // by field: every registered field is indexed
	// labelSets are the label maps stored objects share, by content (shareMapsLocked).
	labelSets map[string]map[string]string
}

// New returns an empty store for the object kinds registered in scheme. Register every type before calling
// New; kinds registered later are unknown to the store.
func New(scheme *runtime.Scheme, opts Options) (*Store, error) {
	if scheme == nil {
		return nil, errors.New("new store: nil scheme")
	}
	s := &Store{
		scheme:      scheme,
		now:         opts.Now,
		onCreate:    opts.OnCreate,
		watchBuffer: opts.WatchBuffer,
		kinds:       map[schema.GroupVersionKind]*kindStore{},
		byType:      map[reflect.Type]*kindStore{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.watchBuffer <= 0 {
		s.watchBuffer = DefaultWatchBuffer
	}
	cluster := map[schema.GroupVersionKind]bool{}
	for _, gvk := range opts.ClusterScoped {
		cluster[gvk] = true
	}
	var gvs []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for gvk, typ := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || !isStorable(typ) {
			continue
		}
		ks := &kindStore{
			gvk:        gvk,
			typ:        typ,
			namespaced: !cluster[gvk],
			objs:       map[types.NamespacedName]client.Object{},
			uids:       map[types.UID]types.NamespacedName{},
			subs:       map[*Subscription]struct{}{},
			fields:     map[string]client.IndexerFunc{},
			index:      map[string]fieldIndex{},
		}
		if f, ok := typ.FieldByName("Status"); ok && len(f.Index) == 1 {
			ks.hasStatus = true
		}
		if listGVK := gvk.GroupVersion().WithKind(gvk.Kind + "List"); scheme.Recognizes(listGVK) {
			ks.listGVK = listGVK
		}
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		ks.resource = plural.GroupResource()
		s.kinds[gvk] = ks
		if _, dup := s.byType[typ]; dup {
			s.byType[typ] = nil // one type under several kinds: Shared cannot tell which is meant
		} else {
			s.byType[typ] = ks
		}
		if !seen[gvk.GroupVersion()] {
			seen[gvk.GroupVersion()] = true
			gvs = append(gvs, gvk.GroupVersion())
		}
	}
	s.mapper = meta.NewDefaultRESTMapper(gvs)
	for gvk, ks := range s.kinds {
		scope := meta.RESTScopeNamespace
		if !ks.namespaced {
			scope = meta.RESTScopeRoot
		}
		s.mapper.Add(gvk, scope)
	}
	if ks := s.kinds[v1alpha1.GroupVersion.WithKind("XenDomain")]; ks != nil && ks.typ == reflect.TypeFor[v1alpha1.XenDomain]() {
		ks.fields[FieldSpecNodeName] = func(o client.Object) []string { // a selector, not an index: one value for all
			if d, ok := o.(*v1alpha1.XenDomain); ok {
				return []string{d.Spec.NodeName}
			}
			return nil
		}
		ks.indexLocked(FieldDomainUUID, func(o client.Object) []string {
			if d, ok := o.(*v1alpha1.XenDomain); ok {
				return []string{d.DomainUUID()}
			}
			return nil
		})
	}
	return s, nil
}

// isStorable reports whether values of typ are objects with metadata (not lists, options or statuses).
func isStorable(typ reflect.Type) bool {
	if typ.Kind() != reflect.Struct {
		return false
	}
	_, ok := reflect.New(typ).Interface().(client.Object)
	return ok
}

// Scheme returns the scheme the store was built with.
func (s *Store) Scheme() *runtime.Scheme { return s.scheme }

// RESTMapper returns a static mapper for the stored kinds.
func (s *Store) RESTMapper() meta.RESTMapper { return s.mapper }

// GroupVersionKindFor returns the GroupVersionKind of obj according to the store's scheme.
func (s *Store) GroupVersionKindFor(obj runtime.Object) (schema.GroupVersionKind, error) {
	return apiutil.GVKForObject(obj, s.scheme)
}

// IsObjectNamespaced reports whether obj's kind is namespaced.
func (s *Store) IsObjectNamespaced(obj runtime.Object) (bool, error) {
	return apiutil.IsObjectNamespaced(obj, s.scheme, s.mapper)
}

// ResourceVersion returns the store's current resourceVersion: that of the last write.
func (s *Store) ResourceVersion() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return formatRV(s.rv)
}

// IndexField registers extract as the source of field selector values for field on obj's kind, so that List,
// Watch and DeleteAllOf accept selectors on it (equality and inequality, matching any of the returned values),
// and indexes the objects by it for SharedByField.
// It implements client.FieldIndexer, so the same registration code serves a manager's cache in fleet mode.
// Registering a field again replaces its extractor. metadata.name and metadata.namespace are built in.
func (s *Store) IndexField(_ context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	if field == "" || extract == nil {
		return fmt.Errorf("index field on %s: empty field name or nil extractor", ks.gvk.Kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ks.indexLocked(field, extract)
	return nil
}

// Get copies the object stored under key into obj (a typed object of a stored kind, or an Unstructured carrying
// its GroupVersionKind), with TypeMeta filled in.
func (s *Store) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	key = ks.key(key.Namespace, key.Name)
	s.mu.RLock()
	cur := ks.objs[key]
	s.mu.RUnlock()
	if cur == nil {
		return ks.notFound(key)
	}
	return copyOut(cur, obj)
}

// List fills list with copies of the objects of its kind that match opts: namespace, label selector and field
// selector (metadata.name, metadata.namespace and the fields registered with IndexField). Items are sorted by
// namespace and name; the list's resourceVersion is the store's. Limit and Continue are ignored. With
// client.UnsafeDisableDeepCopy, a typed list's items share everything with the stored objects, as a cache's
// do: the caller must not modify them.
func (s *Store) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	ks, err := s.kindOfList(list)
	if err != nil {
		return err
	}
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	s.mu.RLock()
	m, err := ks.matcher(lo)
	if err != nil {
		s.mu.RUnlock()
		return err
	}
	items := ks.selectLocked(m)
	rv := s.rv
	s.mu.RUnlock()
	if lo.UnsafeDisableDeepCopy != nil && *lo.UnsafeDisableDeepCopy {
		return fillShared(ks, list, items, rv)
	}
	return fillList(ks, list, items, rv)
}

// kindOf returns the kindStore of obj's kind.
func (s *Store) kindOf(obj runtime.Object) (*kindStore, error) {
	gvk, err := apiutil.GVKForObject(obj, s.scheme)
	if err != nil {
		return nil, err
	}
	return s.kindFor(gvk)
}

// kindOfList returns the kindStore of the items of list.
func (s *Store) kindOfList(list client.ObjectList) (*kindStore, error) {
	gvk, err := apiutil.GVKForObject(list, s.scheme)
	if err != nil {
		return nil, err
	}
	kind, ok := strings.CutSuffix(gvk.Kind, "List")
	if !ok {
		return nil, fmt.Errorf("%s is not a list kind", gvk)
	}
	return s.kindFor(gvk.GroupVersion().WithKind(kind))
}

func (s *Store) kindFor(gvk schema.GroupVersionKind) (*kindStore, error) {
	if ks := s.kinds[gvk]; ks != nil {
		return ks, nil
	}
	return nil, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
}

// newList returns an empty list object for ks's kind.
func (s *Store) newList(ks *kindStore) (client.ObjectList, error) {
	if ks.listGVK.Empty() {
		return nil, fmt.Errorf("no list type registered for %s", ks.gvk)
	}
	o, err := s.scheme.New(ks.listGVK)
	if err != nil {
		return nil, err
	}
	l, ok := o.(client.ObjectList)
	if !ok {
		return nil, fmt.Errorf("%T is not a client.ObjectList", o)
	}
	return l, nil
}

// key returns the storage key of an object of this kind: cluster-scoped objects ignore the namespace.
func (ks *kindStore) key(namespace, name string) types.NamespacedName {
	if !ks.namespaced {
		namespace = ""
	}
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// selectLocked returns the stored objects matching m, sorted by namespace and name. Call with s.mu held.
//
// It sorts by the map's keys, plain strings, rather than through the objects' accessors: with ten thousand
// objects the interface calls of a sort by GetNamespace and GetName were most of a listing's cost.
func (ks *kindStore) selectLocked(m *matcher) []client.Object {
	type entry struct {
		key types.NamespacedName
		obj client.Object
	}
	entries := make([]entry, 0, len(ks.objs))
	for k, o := range ks.objs {
		if m.matches(o) {
			entries = append(entries, entry{k, o})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.key.Namespace != b.key.Namespace {
			return strings.Compare(a.key.Namespace, b.key.Namespace)
		}
		return strings.Compare(a.key.Name, b.key.Name)
	})
	items := make([]client.Object, len(entries))
	for i, e := range entries {
		items[i] = e.obj
	}
	return items
}

// fillList sets list's items to copies of items and its resourceVersion and TypeMeta.
func fillList(ks *kindStore, list client.ObjectList, items []client.Object, rv uint64) error {
	switch l := list.(type) {
	case *unstructured.UnstructuredList:
		l.Items = make([]unstructured.Unstructured, len(items))
		for i, o := range items {
			if err := copyOut(o, &l.Items[i]); err != nil {
				return err
			}
		}
	case *metav1.PartialObjectMetadataList:
		l.Items = make([]metav1.PartialObjectMetadata, len(items))
		for i, o := range items {
			if err := copyOut(o, &l.Items[i]); err != nil {
				return err
			}
		}
	default:
		return setList(ks, list, items, rv, func(o client.Object) runtime.Object { return o.DeepCopyObject() })
	}
	finishList(ks, list, rv)
	return nil
}

// setList sets a typed list's items to item of each stored item, and its list metadata.
func setList(ks *kindStore, list client.ObjectList, items []client.Object, rv uint64, item func(client.Object) runtime.Object) error {
	objs := make([]runtime.Object, len(items))
	for i, o := range items {
		objs[i] = item(o)
	}
	if err := meta.SetList(list, objs); err != nil {
		return fmt.Errorf("list %s: %w", ks.gvk.Kind, err)
	}
	finishList(ks, list, rv)
	return nil
}

// finishList sets a filled list's resource version, continue token and kind.
func finishList(ks *kindStore, list client.ObjectList, rv uint64) {
	list.SetResourceVersion(formatRV(rv))
	list.SetContinue("")
	if !ks.listGVK.Empty() {
		list.GetObjectKind().SetGroupVersionKind(ks.listGVK)
	}
}

// fillShared sets a typed list's items to shallow copies of the stored items, sharing their maps, slices and
// pointers (client.UnsafeDisableDeepCopy: the caller only reads them, as with a cache). Other lists are filled
// with copies.
func fillShared(ks *kindStore, list client.ObjectList, items []client.Object, rv uint64) error {
	switch list.(type) {
	case *unstructured.UnstructuredList, *metav1.PartialObjectMetadataList:
		return fillList(ks, list, items, rv)
	}
	return setList(ks, list, items, rv, func(o client.Object) runtime.Object { return o })
}

func (ks *kindStore) notFound(key types.NamespacedName) error {
	return errNotFound(ks.resource, key.Name)
}
