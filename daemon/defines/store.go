package defines

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
)

// DefaultDir is where libvirt's libxl driver keeps persistent definitions, unless defines_dir says otherwise.
const DefaultDir = "/etc/libvirt/libxl"

// Temporary files are named tempPrefix + RANDOM + tempSuffix: hidden, not *.xml, and short, so that every name
// that fits the file system as NAME.xml can be written through one.
const (
	tempPrefix = ".virtxend-"
	tempSuffix = ".tmp"
)

// Options tune a Store.
type Options struct {
	// Log receives the store's log lines; the keys are "file" and "domain".
	Log logr.Logger
	// Recorder receives events. None when nil.
	Recorder EventSink
	// Defaults are handed to domxml.ApplyDefaults at Load. Its Rand is replaced by a stream seeded by each
	// domain's UUID, so a definition gets the same implicit defaults on every load.
	Defaults domxml.Defaults
}

// Store reads and writes the persistent definitions in one directory. Its methods are safe for concurrent use.
type Store struct {
	dir, autostartDir string
	opts              Options
	log               logr.Logger

	mu  sync.Mutex // serialises changes to the directory
	seq atomic.Uint64
}

// New returns a Store over dir (made absolute: autostart links hold absolute paths). Nothing is read or
// created until it is used.
func New(dir string, opts Options) *Store {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	if opts.Recorder == nil {
		opts.Recorder = nopSink{}
	}
	dir = filepath.Clean(dir)
	return &Store{dir: dir, autostartDir: filepath.Join(dir, "autostart"), opts: opts, log: opts.Log.WithValues("dir", dir)}
}

// Dir returns the directory of the definitions.
func (s *Store) Dir() string { return s.dir }

// Path returns the file of the definition of the domain named name (libvirt's virDomainConfigFile).
func (s *Store) Path(name string) string { return filepath.Join(s.dir, name+".xml") }

// AutostartPath returns the autostart link of the domain named name.
func (s *Store) AutostartPath(name string) string { return filepath.Join(s.autostartDir, name+".xml") }

// Object returns the XenDomain object of a definition: named after the domain, with the domain UUID as UID,
// runStrategy Manual, autostart from the link, labelled and annotated as a define. A spec without a UUID gets
// the name-based one Save would write.
func (s *Store) Object(spec *v1alpha1.DomainSpec) *v1alpha1.XenDomain {
	d := spec.DeepCopy()
	if d.UUID == "" {
		d.UUID = nameUUID(d.Name)
	} else if u, err := v1alpha1.ParseUUID(d.UUID); err == nil {
		d.UUID = u
	}
	return &v1alpha1.XenDomain{
		TypeMeta: metav1.TypeMeta{Kind: "XenDomain", APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:        d.Name,
			Namespace:   v1alpha1.LocalNamespace,
			UID:         types.UID(d.UUID),
			Labels:      map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindDefine},
			Annotations: map[string]string{v1alpha1.AnnotationSource: v1alpha1.SourceKindDefine + ":" + s.Path(d.Name)},
		},
		Spec: v1alpha1.XenDomainSpec{
			Domain:      *d,
			RunStrategy: v1alpha1.RunStrategyManual,
			DriftPolicy: v1alpha1.DriftPolicyEnforce,
			Autostart:   s.Autostart(d.Name),
		},
	}
}

// Save writes the definition of spec to NAME.xml, atomically. The UUID is written in its canonical form, and a
// spec without one gets the name-based one Object gives; either is set in spec too, so that the file always
// carries the UUID the object is known by.
func (s *Store) Save(spec *v1alpha1.DomainSpec) error {
	if err := validName(spec.Name); err != nil {
		return fmt.Errorf("save definition: %w", err)
	}
	if spec.UUID == "" {
		spec.UUID = nameUUID(spec.Name)
	} else if u, err := v1alpha1.ParseUUID(spec.UUID); err != nil {
		return fmt.Errorf("save definition of %q: %w", spec.Name, err)
	} else {
		spec.UUID = u
	}
	body, err := domxml.Format(spec, domxml.FormatOptions{DomID: -1})
	if err != nil {
		return fmt.Errorf("save definition of %q: %w", spec.Name, err)
	}
	data := append([]byte(header(spec.Name)), body...)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("save definition of %q: %w",
			spec.Name, &FileError{Op: OpCreateDir, Path: s.dir, Err: err})
	}
	switch _, err := os.Lstat(s.Path(spec.Name)); {
	case errors.Is(err, fs.ErrNotExist):
		// A new definition starts without autostart: a link an interrupted Delete left must not apply to it.
		if err := removeIfExists(s.AutostartPath(spec.Name)); err != nil {
			return fmt.Errorf("save definition of %q: %w", spec.Name, err)
		}
	case errors.Is(err, syscall.ENAMETOOLONG):
		// NAME.xml does not fit the file system: refused before anything is written.
		return fmt.Errorf("save definition of %q: %w",
			spec.Name, &FileError{Op: OpCreate, Path: s.Path(spec.Name), Err: err})
	}
	if err := writeAtomic(s.dir, spec.Name+".xml", data, 0o600); err != nil {
		return fmt.Errorf("save definition of %q: %w", spec.Name, err)
	}
	s.log.V(1).Info("definition saved", "domain", spec.Name, "file", s.Path(spec.Name))
	return nil
}

// header is the comment libvirt puts before a definition it writes, in our words. "--" may not appear in an
// XML comment, so a name containing it is left out.
func header(name string) string {
	edit := "virsh edit " + name
	if strings.Contains(name, "--") {
		edit = "virsh edit"
	}
	return "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE, written by virtxend. CHANGES TO IT ARE LIKELY TO BE\n" +
		"OVERWRITTEN AND LOST. Change the configuration of this domain with:\n  " + edit +
		"\nor another application using the libvirt API.\n-->\n\n"
}

// Delete removes the definition of the domain named name and its autostart link (libvirt's
// virDomainDeleteConfig). Files that do not exist are no error. NAME.xml goes first: once it is gone the domain
// is undefined, whatever happens next, and a link left by a crash resolves to nothing (Load removes it, Save of
// a new definition too). Removing the link first would let a crash leave the domain defined without autostart,
// a state no call asked for.
func (s *Store) Delete(name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("delete definition: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := removeIfExists(s.Path(name)); err != nil {
		return fmt.Errorf("delete definition of %q: %w", name, err)
	}
	if err := syncDir(s.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete definition of %q: %w", name, err)
	}
	if err := removeIfExists(s.AutostartPath(name)); err != nil {
		return fmt.Errorf("delete definition of %q: %w", name, err)
	}
	_ = syncDir(s.autostartDir)
	return nil
}

// SetAutostart makes or removes the autostart link of the domain named name. The link points at the absolute
// path of NAME.xml, as libvirt makes it; it is created under a temporary name and renamed into place. Turning
// autostart on needs the definition to exist (libvirt refuses autostart for transient domains).
func (s *Store) SetAutostart(name string, on bool) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("set autostart: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	link := s.AutostartPath(name)
	if !on {
		if err := removeIfExists(link); err != nil {
			return fmt.Errorf("set autostart of %q: %w", name, err)
		}
		_ = syncDir(s.autostartDir)
		return nil
	}
	if _, err := os.Stat(s.Path(name)); err != nil {
		return fmt.Errorf("set autostart of %q: no persistent definition: %w", name, err)
	}
	if s.autostart(name) {
		return nil
	}
	if err := os.MkdirAll(s.autostartDir, 0o755); err != nil {
		return fmt.Errorf("set autostart of %q: %w", name, err)
	}
	tmp := filepath.Join(s.autostartDir, tempPrefix+strconv.Itoa(os.Getpid())+"-"+
		strconv.FormatUint(s.seq.Add(1), 10)+tempSuffix)
	if err := os.Symlink(s.Path(name), tmp); err != nil {
		return fmt.Errorf("set autostart of %q: %w", name, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("set autostart of %q: %w", name, err)
	}
	if err := syncDir(s.autostartDir); err != nil {
		return fmt.Errorf("set autostart of %q: %w", name, err)
	}
	return nil
}

// Autostart says whether the domain named name is autostarted: its link resolves to its definition file.
func (s *Store) Autostart(name string) bool {
	if validName(name) != nil {
		return false
	}
	return s.autostart(name)
}

func (s *Store) autostart(name string) bool {
	li, err := os.Stat(s.AutostartPath(name))
	if err != nil {
		return false
	}
	fi, err := os.Stat(s.Path(name))
	return err == nil && os.SameFile(li, fi)
}

// writeAtomic replaces dir/base with data: a temporary file in dir, fsync, rename, fsync of dir. A failed step
// is a *FileError in the words of libvirt's virFileRewrite, naming dir/base.
func writeAtomic(dir, base string, data []byte, perm os.FileMode) (err error) {
	path := filepath.Join(dir, base)
	fail := func(op FileOp, err error) error { return &FileError{Op: op, Path: path, Err: err} }
	f, err := os.CreateTemp(dir, tempPrefix+"*"+tempSuffix)
	if err != nil {
		return fail(OpCreate, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fail(OpWrite, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fail(OpChmod, err)
	}
	if err = f.Sync(); err != nil {
		return fail(OpSync, err)
	}
	if err = f.Close(); err != nil {
		return fail(OpClose, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fail(OpRename, err)
	}
	if err = syncDir(dir); err != nil {
		return fail(OpSync, err)
	}
	return nil
}

// FileError is a definition file that could not be written, in the words libvirt's virFileRewrite uses for the
// step that failed. The facade answers it as libvirt's system error, VIR_ERR_SYSTEM_ERROR "OP 'PATH': strerror"
// ("cannot write data to file '/etc/libvirt/libxl/web.xml': No space left on device").
type FileError struct {
	// Op is the step that failed.
	Op FileOp
	// Path is the file the step was for: NAME.xml, not the temporary file it is written through.
	Path string
	// Err is the system's error, wrapping the errno (syscall.ENOSPC, syscall.ENAMETOOLONG...).
	Err error
}

// FileOp is a step of writing a definition file; its value is libvirt's words for the step failing.
type FileOp string

// The steps of writing NAME.xml, as virDomainDefSave and virFileRewrite name them.
const (
	OpCreateDir FileOp = "cannot create config directory" // the definitions' directory
	OpCreate    FileOp = "Failed to create file"          // also a NAME.xml too long for the file system
	OpWrite     FileOp = "cannot write data to file"
	OpChmod     FileOp = "cannot change permission of"
	OpSync      FileOp = "cannot sync file"
	OpClose     FileOp = "cannot save file"
	OpRename    FileOp = "cannot rename file"
)

// Error returns "OP 'PATH': ERR".
func (e *FileError) Error() string { return fmt.Sprintf("%s '%s': %v", e.Op, e.Path, e.Err) }

// Unwrap returns the system's error.
func (e *FileError) Unwrap() error { return e.Err }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeIfExists removes path; a missing path (or a missing directory on the way) is no error.
func removeIfExists(path string) error {
	err := os.Remove(path)
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	return err
}

// cleanTemps removes the temporary files a crash left behind, and the autostart links of definitions a crash
// in Delete removed.
func (s *Store) cleanTemps() {
	if ents, err := os.ReadDir(s.autostartDir); err == nil {
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".xml")
			if !ok || strings.HasPrefix(e.Name(), tempPrefix) {
				continue
			}
			if _, err := os.Lstat(s.Path(name)); errors.Is(err, fs.ErrNotExist) {
				p := filepath.Join(s.autostartDir, e.Name())
				if err := os.Remove(p); err == nil {
					s.log.Info("removed the autostart link of a definition that is gone", "file", p, "domain", name)
				}
			}
		}
	}
	for _, dir := range []string{s.dir, s.autostartDir} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, tempPrefix) && strings.HasSuffix(n, tempSuffix) {
				p := filepath.Join(dir, n)
				if err := os.Remove(p); err == nil {
					s.log.Info("removed a temporary file left by a crash", "file", p)
				}
			}
		}
	}
}
