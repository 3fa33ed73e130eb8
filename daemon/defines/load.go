package defines

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/deffile"
	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
)

// Load reads every NAME.xml and makes the define objects in the store match them (at start-up and on
// SIGHUP): it creates new ones, updates those whose definition or autostart changed, and removes those whose
// file is gone (deleted if the domain is not running, made transient if it is). A file that does not parse is
// reported (log line and Warning event) and skipped; an existing object from it keeps its spec and gets the
// source-error annotation. Temporary files left by a crash are removed first.
//
// The error reports what stopped Load or what it could not write (the directory or the store); bad files are
// not errors.
func (s *Store) Load(ctx context.Context, c client.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanTemps()

	good, bad, err := s.readAll()
	if err != nil {
		return err
	}
	var all v1alpha1.XenDomainList
	if err := c.List(ctx, &all, client.InNamespace(v1alpha1.LocalNamespace)); err != nil {
		return fmt.Errorf("load definitions: list XenDomain objects: %w", err)
	}
	byName := make(map[string]*v1alpha1.XenDomain, len(all.Items))
	holder := make(map[string]string, len(all.Items)) // domain uuid → name
	for i := range all.Items {
		o := &all.Items[i]
		byName[o.Name] = o
		if u := o.DomainUUID(); u != "" {
			holder[u] = o.Name
		}
	}

	var errs []error
	write := func(op, name string, err error) {
		s.log.Error(err, op+" failed", "domain", name)
		s.opts.Recorder.Event(name, EventTypeWarning, ReasonStoreError, op+" failed: "+err.Error())
		errs = append(errs, fmt.Errorf("%s %q: %w", op, name, err))
	}
	created := 0
	for _, name := range slices.Sorted(maps.Keys(good)) {
		obj := good[name]
		cur := byName[name]
		switch {
		case cur == nil:
			if other, held := holder[obj.Spec.Domain.UUID]; held {
				s.conflict(name, fmt.Sprintf("%s: domain %q has uuid %s, which domain %q already has", s.Path(name), name, obj.Spec.Domain.UUID, other))
				continue
			}
			if err := c.Create(ctx, obj); err != nil {
				write("create", name, err)
				continue
			}
			holder[obj.Spec.Domain.UUID] = name
			created++
			s.log.V(1).Info("definition loaded", "domain", name, "file", s.Path(name))
		case cur.DeletionTimestamp != nil:
			s.log.V(1).Info("domain is being deleted; its definition is loaded next time", "domain", name)
		case cur.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine && cur.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindTransient:
			kind := cur.Labels[v1alpha1.LabelSource]
			s.conflict(name, fmt.Sprintf("%s: domain %q already exists as a %s domain; not loaded", s.Path(name), name, kind))
		case cur.DomainUUID() != obj.Spec.Domain.UUID:
			// libvirt's words for the same clash (virDomainObjListAddLocked).
			s.conflict(name, fmt.Sprintf("%s: domain '%s' already exists with uuid %s", s.Path(name), name, cur.DomainUUID()))
		default:
			// A transient domain with this definition becomes persistent, as with `virsh define`.
			if upd, changed := merge(cur, obj); changed {
				if err := c.Update(ctx, upd); err != nil {
					write("update", name, err)
					continue
				}
				s.log.Info("definition reloaded", "domain", name, "file", s.Path(name))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(bad)) {
		cur := byName[name]
		if cur == nil || cur.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine || cur.Annotations[v1alpha1.AnnotationSourceError] == bad[name] {
			continue
		}
		upd := cur.DeepCopy()
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[v1alpha1.AnnotationSourceError] = bad[name]
		if err := c.Update(ctx, upd); err != nil {
			write("update", name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		cur := byName[name]
		if cur.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine || cur.DeletionTimestamp != nil {
			continue
		}
		if _, ok := good[name]; ok {
			continue
		}
		if _, ok := bad[name]; ok {
			continue
		}
		if err := s.undefine(ctx, c, cur); err != nil {
			write("undefine", name, err)
		}
	}
	s.log.Info("definitions loaded", "files", len(good)+len(bad), "created", created, "failed", len(bad))
	return errors.Join(errs...)
}

// undefine handles an object whose file is gone. As `virsh undefine` does, a running domain stays and becomes
// transient (it goes away when it stops); a stopped one is deleted.
func (s *Store) undefine(ctx context.Context, c client.Client, cur *v1alpha1.XenDomain) error {
	if cur.Status.DomID == nil {
		s.log.Info("definition gone: removing the domain", "domain", cur.Name)
		s.opts.Recorder.Event(cur.Name, EventTypeNormal, ReasonUndefined, s.Path(cur.Name)+" is gone: domain removed")
		uid := cur.UID
		if err := c.Delete(ctx, cur, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	s.log.Info("definition gone: the running domain is now transient", "domain", cur.Name)
	s.opts.Recorder.Event(cur.Name, EventTypeNormal, ReasonUndefined, s.Path(cur.Name)+" is gone: the running domain is now transient")
	upd := cur.DeepCopy()
	upd.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindTransient
	delete(upd.Annotations, v1alpha1.AnnotationSource)
	delete(upd.Annotations, v1alpha1.AnnotationSourceError)
	upd.Spec.Autostart = false
	return c.Update(ctx, upd)
}

// merge returns cur with what a definition owns set from obj: the source label, the domain definition,
// autostart and the source annotations. runStrategy, paused and action belong to the facade once the object
// exists.
func merge(cur, obj *v1alpha1.XenDomain) (*v1alpha1.XenDomain, bool) {
	upd := cur.DeepCopy()
	changed := false
	if upd.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine {
		if upd.Labels == nil {
			upd.Labels = map[string]string{}
		}
		upd.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindDefine
		changed = true
	}
	if !equality.Semantic.DeepEqual(upd.Spec.Domain, obj.Spec.Domain) {
		upd.Spec.Domain = *obj.Spec.Domain.DeepCopy()
		changed = true
	}
	if upd.Spec.Autostart != obj.Spec.Autostart {
		upd.Spec.Autostart = obj.Spec.Autostart
		changed = true
	}
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	if src := obj.Annotations[v1alpha1.AnnotationSource]; upd.Annotations[v1alpha1.AnnotationSource] != src {
		upd.Annotations[v1alpha1.AnnotationSource] = src
		changed = true
	}
	if _, ok := upd.Annotations[v1alpha1.AnnotationSourceError]; ok {
		delete(upd.Annotations, v1alpha1.AnnotationSourceError)
		changed = true
	}
	return upd, changed
}

func (s *Store) conflict(name, msg string) {
	s.log.Error(errors.New(msg), "definition not loaded", "domain", name)
	s.opts.Recorder.Event(name, EventTypeWarning, ReasonConflict, msg)
}

// readAll parses every definition file, in parallel. good holds the objects of the files that parse, bad the
// errors of those that do not, both by domain name (the file name without .xml).
func (s *Store) readAll() (good map[string]*v1alpha1.XenDomain, bad map[string]string, err error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("load definitions: %w", err)
	}
	type job struct {
		name string
		obj  *v1alpha1.XenDomain
		err  error
	}
	var jobs []*job
	for _, e := range ents {
		// libvirt loads every entry ending in .xml (virDomainObjListLoadAllConfigs).
		name, ok := strings.CutSuffix(e.Name(), ".xml")
		if !ok || name == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(s.dir, e.Name())); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		jobs = append(jobs, &job{name: name})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				j.obj, j.err = s.loadFile(j.name)
			}
		})
	}
	wg.Wait()

	good = make(map[string]*v1alpha1.XenDomain, len(jobs))
	bad = map[string]string{}
	for _, j := range jobs {
		if j.err != nil {
			bad[j.name] = j.err.Error()
			s.log.Error(j.err, "definition does not parse; skipped", "file", s.Path(j.name), "domain", j.name)
			s.opts.Recorder.Event(j.name, EventTypeWarning, ReasonParseError, j.err.Error())
			continue
		}
		good[j.name] = j.obj
	}
	return good, bad, nil
}

// loadFile reads and parses the definition of the domain named name.
func (s *Store) loadFile(name string) (*v1alpha1.XenDomain, error) {
	path := s.Path(name)
	data, err := deffile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	spec, err := domxml.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if spec.Name != name {
		return nil, fmt.Errorf("%s: the domain is named %q: the definition of a domain must be NAME.xml", path, spec.Name)
	}
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if spec.UUID == "" {
		spec.UUID = nameUUID(name)
	} else if spec.UUID, err = v1alpha1.ParseUUID(spec.UUID); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := s.opts.Defaults
	d.Rand = domxml.SeededRand(spec.UUID)
	if err := domxml.ApplyDefaults(spec, d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s.Object(spec), nil
}
