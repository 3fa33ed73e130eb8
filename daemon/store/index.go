package store

import (
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fieldIndex maps the values an indexed field's extractor returns to the keys of the objects that have them,
// kept up to date by every write, so that a lookup by field value costs the objects found, not the objects
// stored. The fields indexed are nearly unique (a domain's UUID, its name): a value's keys are a short slice,
// a few words per object where a set would cost a map each.
type fieldIndex map[string][]types.NamespacedName

// indexLocked registers extract as field's extractor and indexes the stored objects by it. Call with s.mu held
// for writing. Only nearly unique fields should be indexed: a value shared by every object makes each write
// to one of them cost a scan of the others.
func (ks *kindStore) indexLocked(field string, extract client.IndexerFunc) {
	ks.fields[field] = extract
	idx := fieldIndex{}
	for k, o := range ks.objs {
		idx.add(k, extract(o))
	}
	ks.index[field] = idx
}

// reindexLocked moves key from the values of cur to those of next (either may be nil) in every index. Call with
// s.mu held for writing.
func (ks *kindStore) reindexLocked(key types.NamespacedName, cur, next client.Object) {
	for field, idx := range ks.index {
		extract := ks.fields[field]
		var old, nu []string
		if cur != nil {
			old = extract(cur)
		}
		if next != nil {
			nu = extract(next)
		}
		if slices.Equal(old, nu) {
			continue
		}
		idx.remove(key, old)
		idx.add(key, nu)
	}
}

func (idx fieldIndex) add(key types.NamespacedName, values []string) {
	for _, v := range values {
		if keys := idx[v]; !slices.Contains(keys, key) {
			idx[v] = append(keys, key)
		}
	}
}

func (idx fieldIndex) remove(key types.NamespacedName, values []string) {
	for _, v := range values {
		keys := idx[v]
		if i := slices.Index(keys, key); i >= 0 {
			keys = slices.Delete(keys, i, i+1)
		}
		if len(keys) == 0 {
			delete(idx, v)
		} else {
			idx[v] = keys
		}
	}
}

// HasField reports whether an object of type T in namespace ("" for any) has value in field (registered with
// IndexField), without allocating: for checks run over every domain, such as the adopter's.
func HasField[T client.Object](s *Store, namespace, field, value string) (bool, error) {
	ks, err := s.kindOfType(reflect.TypeFor[T]())
	if err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range ks.index[field][value] {
		if namespace == "" || k.Namespace == namespace {
			return true, nil
		}
	}
	return false, nil
}

// SharedByField returns the stored objects of type T whose field (registered with IndexField) has value,
// sorted by namespace and name, without copying them; the same rules as for Shared apply. It costs the objects
// found, whatever the number stored. An unregistered field finds nothing.
func SharedByField[T client.Object](s *Store, field, value string) ([]T, error) {
	ks, err := s.kindOfType(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	keys := slices.Clone(ks.index[field][value])
	out := make([]T, len(keys))
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, k := range keys {
		out[i] = ks.objs[k].(T)
	}
	s.mu.RUnlock()
	return out, nil
}
