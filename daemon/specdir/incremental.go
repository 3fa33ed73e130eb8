package specdir

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
)

// settledPair records a stored object a pass found equal to the file's object it wants, by what any change the
// loader compares changes: the object's UID and generation (its spec), its label and annotation maps (a write
// that changes them makes new ones; the versions a status write makes share them), and the want's file content.
type settledPair struct {
	uid                 types.UID
	generation          int64
	labels, annotations map[string]string
	st                  *fileState
	hash                [sha256.Size]byte
	idx                 int
	srcErr              string
}

func settle(cur *v1alpha1.XenDomain, w *want) settledPair {
	return settledPair{uid: cur.UID, generation: cur.Generation, labels: cur.Labels, annotations: cur.Annotations,
		st: w.st, hash: w.st.hash, idx: w.idx, srcErr: w.srcErr}
}

// holds says whether cur and w are still what s recorded.
func (s *settledPair) holds(cur *v1alpha1.XenDomain, w *want) bool {
	return cur.UID == s.uid && cur.Generation == s.generation && sameMap(cur.Labels, s.labels) &&
		sameMap(cur.Annotations, s.annotations) && w.st == s.st && w.st.hash == s.hash && w.idx == s.idx &&
		w.srcErr == s.srcErr
}

// sameMap says whether a and b are the same map (not merely equal ones).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// passWork counts the per-domain work of one pass: files stat'ed or read, objects compared with their file, and
// claims, objects and names visited.
type passWork struct {
	read, merged, visited int
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

// fullRescan is how many periodic rescans run in a row, the last one resolving and comparing every domain.
const fullRescan = 10

// changed lists the directory and returns the paths that appeared, went away or (with stat) whose stat
// signature changed since they were last read.
func (l *Loader) changed(stat bool) (map[string]bool, error) {
	paths, err := l.list()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range paths {
		st := l.files[p]
		if st == nil || !st.hashed {
			out[p] = true
			continue
		}
		if !stat {
			continue
		}
		l.work.read++
		if sig, ok := statSig(p); !ok || st.sig != sig {
			out[p] = true
		}
	}
	for _, p := range l.paths {
		if _, found := slices.BinarySearch(paths, p); !found {
			out[p] = true
		}
	}
	return out, nil
}

// reindex rebuilds the claim indexes from the files of paths, after a full pass, and says whether event passes
// may be incremental: only over the local store, whose objects are looked up by name and UUID without a listing.
func (l *Loader) reindex(paths []string) {
	clear(l.byName)
	clear(l.byUUID)
	for _, p := range paths {
		l.indexFile(p)
	}
	_, l.indexed = l.c.(*store.Store)
}

// indexFile adds the claims of the file p (its last good objects) to the indexes; p sorts after every path
// already indexed, or is inserted in order.
func (l *Loader) indexFile(p string) {
	st := l.files[p]
	if st == nil {
		return
	}
	for _, id := range st.ids {
		l.byName[id.name] = insertSorted(l.byName[id.name], p)
		l.byUUID[id.uuid] = insertSorted(l.byUUID[id.uuid], p)
	}
}

// unindexFile removes the claims of the file p from the indexes.
func (l *Loader) unindexFile(p string) {
	st := l.files[p]
	if st == nil {
		return
	}
	for _, id := range st.ids {
		dropSorted(l.byName, id.name, p)
		dropSorted(l.byUUID, id.uuid, p)
	}
}

func insertSorted(s []string, p string) []string {
	i, found := slices.BinarySearch(s, p)
	if found {
		return s
	}
	return slices.Insert(s, i, p)
}

func dropSorted(m map[string][]string, key, p string) {
	s := m[key]
	if i, found := slices.BinarySearch(s, p); found {
		s = slices.Delete(s, i, i+1)
	}
	if len(s) == 0 {
		delete(m, key)
	} else {
		m[key] = s
	}
}

// eventPass is the pass after fsnotify events (or a retry) once a full pass has indexed the directory: it reads
// the files the events named, and resolves and applies only the claims they touch (with those linked to them
// by a shared name or UUID) and the names a pass left pending. Its cost is that of the changed files' domains,
// whatever the number of files and domains.
func (l *Loader) eventPass(ctx context.Context, only map[string]bool) (again bool, err error) {
	st := l.c.(*store.Store)
	names := maps.Clone(l.pending)
	uuids := map[string]bool{}
	// Claims that lost to another source are looked at again: that domain may be gone (conflicts are few).
	for k := range l.reported {
		_, name, _ := strings.Cut(k, "\x00")
		names[name] = true
	}
	seed := func(p string) {
		if fs := l.files[p]; fs != nil {
			for _, id := range fs.ids {
				names[id.name] = true
				uuids[id.uuid] = true
			}
		}
	}
	var jobs []*readJob
	changed := slices.Sorted(maps.Keys(only))
	for _, p := range changed {
		if filepath.Dir(p) != l.dir || !relevant(filepath.Base(p)) {
			continue
		}
		seed(p)
		l.unindexFile(p)
		exists, j := false, (*readJob)(nil)
		if fi, err := os.Stat(p); err == nil && !fi.Mode().IsRegular() {
			l.work.read++ // a directory or a device is not a definition, as in a listing
		} else {
			exists, j = l.readOne(p, true)
		}
		if !exists {
			delete(l.files, p)
			if i, found := slices.BinarySearch(l.paths, p); found {
				l.paths = slices.Delete(l.paths, i, i+1)
			}
			continue
		}
		if i, found := slices.BinarySearch(l.paths, p); !found {
			l.paths = slices.Insert(l.paths, i, p)
		}
		if j != nil {
			jobs = append(jobs, j)
		}
	}
	l.decode(jobs)
	for _, p := range changed {
		seed(p)
		l.indexFile(p)
	}

	// The claims linked to the changed ones: resolving a claim needs every claim on its name or UUID.
	l.closure(names, uuids)
	var files []string
	for n := range names {
		files = append(files, l.byName[n]...)
	}
	slices.Sort(files)
	files = slices.Compact(files)

	local := func(name string) *v1alpha1.XenDomain {
		o, _ := store.Shared[*v1alpha1.XenDomain](st, client.ObjectKey{Namespace: v1alpha1.LocalNamespace, Name: name})
		return o
	}
	byUUID := func(u string, other bool) *v1alpha1.XenDomain {
		objs, _ := store.SharedByField[*v1alpha1.XenDomain](st, store.FieldDomainUUID, u)
		for _, o := range objs {
			if o.Namespace == v1alpha1.LocalNamespace && (!other || o.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindFile) {
				return o
			}
		}
		return nil
	}
	r := &resolver{
		wants:  map[string]*want{},
		uuids:  map[string]string{},
		active: map[string]bool{},
		otherKind: func(name string) string {
			if o := local(name); o != nil {
				return sourceKind(o)
			}
			return ""
		},
		otherUUID: func(u string) (string, string) {
			if o := byUUID(u, true); o != nil {
				return o.Name, sourceKind(o)
			}
			return "", ""
		},
	}
	for _, p := range files {
		fs := l.files[p]
		for i, id := range fs.ids {
			if names[id.name] {
				l.claim(r, p, fs, i)
			}
		}
	}
	for k := range l.reported {
		if _, name, _ := strings.Cut(k, "\x00"); names[name] && !r.active[k] {
			delete(l.reported, k)
		}
	}

	held := func(u string) bool { return byUUID(u, false) != nil }
	for _, name := range slices.Sorted(maps.Keys(names)) {
		cur := local(name)
		if cur != nil && cur.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindFile {
			cur = nil
		}
		again = l.applyOne(ctx, name, r.wants[name], cur, held) || again
	}

	l.ownersMu.Lock()
	for name := range names {
		if w := r.wants[name]; w != nil {
			l.wants[name] = w
			l.owners[name] = w.path
		} else {
			delete(l.wants, name)
			delete(l.owners, name)
		}
	}
	l.ownersMu.Unlock()
	l.log.V(1).Info("event pass done", "files", len(changed), "domains", len(names))
	return again, nil
}

// closure adds to names and uuids those of every claim that shares a name or a UUID with a claim they hold,
// until none is left out.
func (l *Loader) closure(names, uuids map[string]bool) {
	var qn, qu []string
	for n := range names {
		qn = append(qn, n)
	}
	for u := range uuids {
		qu = append(qu, u)
	}
	for len(qn) > 0 || len(qu) > 0 {
		if len(qn) > 0 {
			n := qn[len(qn)-1]
			qn = qn[:len(qn)-1]
			for _, p := range l.byName[n] {
				for _, id := range l.files[p].ids {
					if u := id.uuid; id.name == n && !uuids[u] {
						uuids[u] = true
						qu = append(qu, u)
					}
				}
			}
			continue
		}
		u := qu[len(qu)-1]
		qu = qu[:len(qu)-1]
		for _, p := range l.byUUID[u] {
			for _, id := range l.files[p].ids {
				if id.uuid == u && !names[id.name] {
					names[id.name] = true
					qn = append(qn, id.name)
				}
			}
		}
	}
}

// sourceKind is the source kind of an object that does not come from a file ("unknown" when unlabelled), or
// "" for a file's.
func sourceKind(o *v1alpha1.XenDomain) string {
	kind := o.Labels[v1alpha1.LabelSource]
	switch kind {
	case v1alpha1.SourceKindFile:
		return ""
	case "":
		return "unknown"
	}
	return kind
}
