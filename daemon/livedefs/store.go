package livedefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
)

// Store is a controllers.LiveStore over one directory. Reads are served from memory; every write goes to disk
// first. Its methods are safe for concurrent use.
type Store struct {
	dir string
	log logr.Logger

	mu   sync.RWMutex
	defs map[string]*controllers.LiveDefinition // by UUID

	// specs, when set (ShareWith), gives the spec of a domain's object as the local store holds it.
	specs func(object string, uid types.UID) *v1alpha1.DomainSpec
	// unshared are the UUIDs of the definitions read at Open and not written since: those Reshare shares.
	unshared map[string]bool
}

// ShareWith makes every definition written from now on share the values it has in common with the spec specs
// returns for its object (nil when there is none, or it is not that UID's): the spec of the local store's
// object, shared and immutable, of which a running domain's definition is mostly a copy. Call it before the
// store is used.
func (s *Store) ShareWith(specs func(object string, uid types.UID) *v1alpha1.DomainSpec) {
	s.specs = specs
}

// Reshare makes the definitions read at Open and not written since share what they have in common with their
// objects' specs, as ShareWith does for those written: once the sources have loaded, after a restart. It does
// so once; a definition replaced meanwhile is left as it is.
func (s *Store) Reshare() {
	if s.specs == nil {
		return
	}
	s.mu.Lock()
	todo := make([]*controllers.LiveDefinition, 0, len(s.unshared))
	for u := range s.unshared {
		if d := s.defs[u]; d != nil {
			todo = append(todo, d)
		}
	}
	s.unshared = nil
	s.mu.Unlock()
	for _, d := range todo {
		spec := s.specs(d.Object, d.UID)
		if spec == nil {
			continue
		}
		c := d.WithBoot() // a private copy: stored definitions are never modified
		shareEqual(reflect.ValueOf(&c.Domain).Elem(), reflect.ValueOf(spec).Elem())
		compact(c)
		s.mu.Lock()
		if s.defs[c.UUID] == d {
			s.defs[c.UUID] = c
		}
		s.mu.Unlock()
	}
}

// share makes c's live spec share the values it has in common with its object's spec (ShareWith).
func (s *Store) share(c *controllers.LiveDefinition) {
	if s.specs == nil {
		return
	}
	if spec := s.specs(c.Object, c.UID); spec != nil {
		shareEqual(reflect.ValueOf(&c.Domain).Elem(), reflect.ValueOf(spec).Elem())
	}
}

var _ controllers.LiveStore = (*Store)(nil)

// Open reads every live definition in dir, creating dir when missing. A file that does not decode is logged
// and left in place (a later write of that domain replaces it).
func Open(dir string, log logr.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("live definitions: %w", err)
	}
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	s := &Store{dir: dir, log: log, defs: map[string]*controllers.LiveDefinition{}, unshared: map[string]bool{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("live definitions: %w", err)
	}
	var names []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // left by a crash mid-write
			continue
		}
		if strings.HasSuffix(name, ".json") {
			names = append(names, name)
		}
	}
	// Decoding is most of what a restart reads before it serves (0.49 s of CPU for 10,000 running domains, one
	// file after the other): the files are decoded on every processor, then kept in directory order.
	defs, errs := make([]*controllers.LiveDefinition, len(names)), make([]error, len(names))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, name := range names {
		g.Go(func() error {
			if defs[i], errs[i] = readFile(filepath.Join(dir, name)); errs[i] == nil {
				compact(defs[i])
			}
			return nil
		})
	}
	_ = g.Wait()
	for i, name := range names {
		switch u := strings.TrimSuffix(name, ".json"); {
		case errs[i] != nil:
			log.Error(errs[i], "live definition does not decode; ignored", "file", filepath.Join(dir, name))
		case defs[i].UUID != u:
			log.Error(errors.New("uuid does not match the file name"), "live definition ignored", "file", filepath.Join(dir, name))
		default:
			s.defs[u] = defs[i]
			s.unshared[u] = true
		}
	}
	return s, nil
}

func readFile(path string) (*controllers.LiveDefinition, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &controllers.LiveDefinition{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if d.Boot == nil {
		return nil, fmt.Errorf("decode %s: no boot definition", path)
	}
	return d, nil
}

// Dir is the directory of the files.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(uuid string) string { return filepath.Join(s.dir, uuid+".json") }

// Live returns a copy of the live definition of the domain with this UUID, with its Boot, or nil.
func (s *Store) Live(uuid string) *controllers.LiveDefinition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.defs[strings.ToLower(uuid)].WithBoot()
}

// LiveList returns every live definition, shared with the store: read-only (PutLive replaces a definition, it
// never modifies one), so that listing ten thousand of them copies none. Their Boot is nil where it is what nil
// stands for (BootSpec derives it).
func (s *Store) LiveList() []*controllers.LiveDefinition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*controllers.LiveDefinition, 0, len(s.defs))
	for _, d := range s.defs {
		out = append(out, d)
	}
	return out
}

// PutLive writes d to UUID.json through a temporary file and a rename, then keeps a copy in memory.
func (s *Store) PutLive(d *controllers.LiveDefinition) error {
	c := d.WithBoot()
	c.UUID = strings.ToLower(c.UUID)
	if c.UUID == "" || strings.ContainsAny(c.UUID, `/\`) || strings.HasPrefix(c.UUID, ".") {
		return fmt.Errorf("store live definition: bad uuid %q", c.UUID)
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(c); err != nil {
		return fmt.Errorf("store live definition of %s: %w", c.UUID, err)
	}
	b := e.buf.Bytes()
	s.share(c)
	compact(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeAtomic(s.dir, s.path(c.UUID), b); err != nil {
		return fmt.Errorf("store live definition of %s: %w", c.UUID, err)
	}
	s.defs[c.UUID] = c
	delete(s.unshared, c.UUID)
	return nil
}

// encoder writes indented JSON into its buffer; both keep their capacity between uses (every start writes a
// definition).
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetIndent("", "  ")
	return e
}}

// compact drops what the stored definition d keeps twice: its Boot when it is what a nil Boot stands for (the
// files always have it), or else the fields of its Boot equal to those of its live definition.
func compact(d *controllers.LiveDefinition) {
	if reflect.DeepEqual(controllers.WithoutRuntime(&d.Domain, d.DomID), d.Boot) { // exactly: 1Gi stays 1Gi
		d.Boot = nil
		return
	}
	shareEqual(reflect.ValueOf(d.Boot).Elem(), reflect.ValueOf(&d.Domain).Elem())
}

// shareEqual makes the fields of the struct dst that equal those of src (of the same type) share src's pointers,
// slices, maps and strings, descending into nested structs: a live definition's boot spec is mostly its live
// spec, and two copies of every running domain's definition are the largest part of its memory. Both must be
// private to the caller, and immutable once stored.
func shareEqual(dst, src reflect.Value) {
	for i := range dst.NumField() {
		d, s := dst.Field(i), src.Field(i)
		if !d.CanSet() {
			continue
		}
		switch d.Kind() {
		case reflect.Struct:
			if d.Type() == reflect.TypeFor[resource.Quantity]() {
				continue // copied by value; its cached string is its own
			}
			shareEqual(d, s)
		case reflect.String: // compared without boxing them: most fields are strings
			if d.String() == s.String() {
				d.Set(s)
			}
		case reflect.Pointer, reflect.Slice, reflect.Map:
			if d.IsNil() || s.IsNil() || d.Pointer() == s.Pointer() && (d.Kind() != reflect.Slice || d.Len() == s.Len()) {
				continue // nothing to share, or shared already
			}
			if reflect.DeepEqual(d.Interface(), s.Interface()) { // exactly: 1Gi stays 1Gi
				d.Set(s)
			}
		case reflect.Interface:
			if reflect.DeepEqual(d.Interface(), s.Interface()) {
				d.Set(s)
			}
		}
	}
}

// DeleteLive removes the live definition of the domain with this UUID.
func (s *Store) DeleteLive(uuid string) error {
	uuid = strings.ToLower(uuid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.defs[uuid]; !ok {
		return nil
	}
	if err := os.Remove(s.path(uuid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove live definition of %s: %w", uuid, err)
	}
	delete(s.defs, uuid)
	delete(s.unshared, uuid)
	return nil
}

// writeAtomic replaces path with data: a reader, or a daemon restarted after a crash, sees the old or the new
// content, never part of it.
func writeAtomic(dir, path string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
