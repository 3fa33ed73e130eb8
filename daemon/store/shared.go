package store

import (
	"fmt"
	"reflect"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Shared returns the object of type T stored under key, without copying it, or nil when there is none.
// Stored objects are immutable (a write stores a new object), so the result is a consistent snapshot that stays
// valid after later writes; it is shared with the store and every other reader, so the caller must not modify
// it or anything reachable from it (mind methods that cache, such as resource.Quantity's String: call them on a
// copy). It is for hot read paths, such as the RPC facade's lookups, where Get's deep
// copy would be most of the cost; code that changes an object uses Get and Update.
func Shared[T client.Object](s *Store, key client.ObjectKey) (T, error) {
	var zero T
	ks, err := s.kindOfType(reflect.TypeFor[T]())
	if err != nil {
		return zero, err
	}
	key = ks.key(key.Namespace, key.Name)
	s.mu.RLock()
	cur := ks.objs[key]
	s.mu.RUnlock()
	if cur == nil {
		return zero, nil
	}
	return cur.(T), nil
}

// SharedList returns the stored objects of type T in namespace ("" for all), sorted by namespace and name,
// without copying them; the same rules as for Shared apply.
func SharedList[T client.Object](s *Store, namespace string) ([]T, error) {
	ks, err := s.kindOfType(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	items := ks.selectLocked(&matcher{namespace: namespace})
	s.mu.RUnlock()
	out := make([]T, len(items))
	for i, o := range items {
		out[i] = o.(T)
	}
	return out, nil
}

// kindOfType returns the kindStore whose objects are of the pointer type typ.
func (s *Store) kindOfType(typ reflect.Type) (*kindStore, error) {
	if typ.Kind() == reflect.Pointer {
		if ks := s.byType[typ.Elem()]; ks != nil {
			return ks, nil
		}
	}
	return nil, fmt.Errorf("%s is not a stored kind", typ)
}

// SharedEach calls fn with each stored object of type T in namespace ("" for all), in no order, without
// copying or sorting them; the same rules as for Shared apply. It holds the store's read lock throughout: fn
// must be quick and must not call the store. For counting and polling, where SharedList's sort is most of
// the cost.
func SharedEach[T client.Object](s *Store, namespace string, fn func(T)) error {
	ks, err := s.kindOfType(reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, o := range ks.objs {
		if namespace == "" || o.GetNamespace() == namespace {
			fn(o.(T))
		}
	}
	return nil
}
