package domlock

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
)

// ErrTimeout is returned by Lock when the context ends before the locks are free: libvirt's "cannot acquire
// state change lock".
var ErrTimeout = errors.New("cannot acquire state change lock")

// Table holds the locks of every domain of one daemon, keyed by name and by UUID. The zero value is ready to use;
// a Table must not be copied after first use.
type Table struct {
	mu   sync.Mutex
	held map[string]chan struct{} // key → closed when the holder lets go
}

// keys spells the lock keys of a domain: names and UUIDs live in separate spaces, and a UUID is compared in lower case, as
// libvirt parses it.
func keys(name, uuid string) []string {
	var ks []string
	if name != "" {
		ks = append(ks, "name/"+name)
	}
	if uuid != "" {
		ks = append(ks, "uuid/"+strings.ToLower(uuid))
	}
	slices.Sort(ks) // one global order: two calls sharing a key never wait for each other in a cycle
	return ks
}

// Lock takes the locks of the domain named name with UUID uuid (either may be empty), waiting until they are free
// or ctx ends (ErrTimeout, wrapped with ctx's error). unlock lets them go; it must be called exactly once.
func (t *Table) Lock(ctx context.Context, name, uuid string) (unlock func(), err error) {
	ks := keys(name, uuid)
	for {
		wait := t.tryAll(ks)
		if wait == nil {
			return t.unlocker(ks), nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, errors.Join(ErrTimeout, ctx.Err())
		}
	}
}

// TryLock takes the locks of the domain if they are all free at once, and reports whether it did. The reconciler
// uses it: a facade call holding the lock may be waiting for this very reconcile's outcome.
func (t *Table) TryLock(name, uuid string) (unlock func(), ok bool) {
	ks := keys(name, uuid)
	if t.tryAll(ks) != nil {
		return nil, false
	}
	return t.unlocker(ks), true
}

// tryAll takes every key in ks, or none: it returns nil when it took them, else the release channel of a key
// someone else holds, to wait on before trying again.
func (t *Table) tryAll(ks []string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range ks {
		if ch, busy := t.held[k]; busy {
			return ch
		}
	}
	if t.held == nil {
		t.held = map[string]chan struct{}{}
	}
	for _, k := range ks {
		t.held[k] = make(chan struct{})
	}
	return nil
}

func (t *Table) unlocker(ks []string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			for _, k := range ks {
				close(t.held[k])
				delete(t.held, k)
			}
		})
	}
}
