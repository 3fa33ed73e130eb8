package specdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/api/deffile"
	"github.com/virtxend/virtxend/api/v1alpha1"
)

// fileState is what the loader knows of one file.
type fileState struct {
	// hash is the content objs and err were computed from; hashed says whether it is valid.
	hash   [sha256.Size]byte
	hashed bool
	// ids are the name and UUID of each object of the last good parse: of the current content when err is nil,
	// of an earlier one otherwise. data is that content, and objs the objects it decodes to while a pass
	// needs them: a pass releases them when it ends (objects returns them again), so that the loader does not
	// keep a third copy of every domain beside the store's and the live definitions.
	ids  []claimID
	data []byte
	objs []*v1alpha1.XenDomain
	// err says why the current content does not parse (or cannot be read).
	err error
	// sig is the file's stat signature when it was last read; an event pass skips a file whose signature did not
	// change, the periodic rescan reads every file regardless.
	sig fileSig
}

// fileSig is what stat says of a file's identity and content: a write, a replace or a touch changes it.
type fileSig struct {
	ino, size   uint64
	mtime, ctim int64
}

func statSig(p string) (fileSig, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return fileSig{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileSig{}, false
	}
	return fileSig{ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim.Nano(), ctim: st.Ctim.Nano()}, true
}

// claimID is the identity of one object a file describes.
type claimID struct{ name, uuid string }

func idsOf(objs []*v1alpha1.XenDomain) []claimID {
	ids := make([]claimID, len(objs))
	for i, o := range objs {
		ids[i] = claimID{name: o.Name, uuid: o.Spec.Domain.UUID}
	}
	return ids
}

// want is one domain the directory asks for: the idx-th object of the file path (Loader.object gives it).
type want struct {
	claimID
	path   string
	st     *fileState
	idx    int
	srcErr string // the file's current parse error while its object is of its last good version
}

// objects returns the objects of the last good parse of the file p, decoding its content again when an earlier
// pass released them. They are kept until the pass ends.
func (l *Loader) objects(p string, st *fileState) []*v1alpha1.XenDomain {
	if st.objs == nil && len(st.ids) > 0 {
		objs, err := decodeFile(p, st.data, l.opts.Defaults)
		if err == nil && len(objs) != len(st.ids) {
			err = fmt.Errorf("%d objects, %d before", len(objs), len(st.ids))
		}
		if err != nil { // the same content decoded before: not expected
			l.log.Error(err, "file content decodes differently than before", "file", p)
			return nil
		}
		st.objs = objs
		l.held = append(l.held, st)
	}
	return st.objs
}

// object returns the object w wants, or nil if it cannot be decoded again.
func (l *Loader) object(w *want) *v1alpha1.XenDomain {
	if objs := l.objects(w.path, w.st); w.idx < len(objs) {
		return objs[w.idx]
	}
	return nil
}

// release forgets the objects the pass decoded (their files keep their content).
func (l *Loader) release() {
	for _, st := range l.held {
		st.objs = nil
	}
	l.held = l.held[:0]
}

// relevant says whether a directory entry's name is one the loader reads: *.yaml, *.yml, *.json, *.xml and
// *.cfg (xl.cfg), except dotfiles and editor leftovers (*~, #autosave#).
func relevant(base string) bool {
	if base == "" || base[0] == '.' || base[0] == '#' || strings.HasSuffix(base, "~") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json", ".xml", ".cfg":
		return true
	}
	return false
}

// list returns the paths of the relevant regular files of the directory (symlinks to regular files count),
// sorted. A missing directory is an empty one; any other error leaves the pass undone. A path already known
// (l.paths) is returned as the same string: a rescan of ten thousand unchanged files allocates their list only.
func (l *Loader) list() ([]string, error) {
	paths := make([]string, 0, len(l.paths)+8)
	prefix := len(l.dir) + 1
	err := eachDirent(l.dir, func(name string, typ fs.FileMode) {
		if !relevant(name) {
			return
		}
		i, known := slices.BinarySearchFunc(l.paths, name, func(p, name string) int { return strings.Compare(p[prefix:], name) })
		p := ""
		if known {
			p = l.paths[i]
		} else {
			p = l.dir + "/" + name // name is only valid during the call: the concatenation copies it
		}
		if !typ.IsRegular() {
			if typ != typeUnknown && typ&fs.ModeSymlink == 0 {
				return
			}
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return
			}
		}
		paths = append(paths, p)
	})
	if errors.Is(err, fs.ErrNotExist) {
		l.log.V(1).Info("directory does not exist: no domains from files")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", l.dir, err)
	}
	slices.Sort(paths)
	return paths, nil
}

// typeUnknown is the type eachDirent reports when the file system does not give one (DT_UNKNOWN).
const typeUnknown = fs.ModeIrregular

// eachDirent calls fn with the name and type (fs.ModeType bits; typeUnknown when the file system does not say)
// of every entry of dir but . and .., in directory order. name aliases a buffer reused for the next entries: fn
// must copy what it keeps. Unlike os.ReadDir it allocates nothing per entry.
func eachDirent(dir string, fn func(name string, typ fs.FileMode)) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name (NUL-terminated).
		for off := 0; off+19 <= n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 || off+reclen > n {
				return &fs.PathError{Op: "getdents", Path: dir, Err: unix.EIO}
			}
			name := buf[off+19 : off+reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			typ := typeUnknown
			switch buf[off+18] {
			case unix.DT_REG:
				typ = 0
			case unix.DT_DIR:
				typ = fs.ModeDir
			case unix.DT_LNK:
				typ = fs.ModeSymlink
			case unix.DT_FIFO:
				typ = fs.ModeNamedPipe
			case unix.DT_SOCK:
				typ = fs.ModeSocket
			case unix.DT_CHR:
				typ = fs.ModeDevice | fs.ModeCharDevice
			case unix.DT_BLK:
				typ = fs.ModeDevice
			}
			off += reclen
			if s := unsafe.String(unsafe.SliceData(name), len(name)); s != "." && s != ".." && s != "" {
				fn(s, typ)
			}
		}
	}
}

// readJob is one file whose content changed, to decode.
type readJob struct {
	path string
	data []byte
	st   *fileState
	objs []*v1alpha1.XenDomain
	err  error
}

// readAll reads every file, parses those whose content changed (in parallel) and forgets files that are gone.
// It returns the paths that still exist.
//
// With quick, a file whose stat signature is unchanged since it was last read is not read again.
//
// With only (a quick pass after events), a file not in only is not even stat'ed.
func (l *Loader) readAll(paths []string, quick bool, only map[string]bool) []string {
	var jobs []*readJob
	kept := make([]string, 0, len(paths))
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if st := l.files[p]; quick && only != nil && !only[p] && st != nil && st.hashed {
			kept = append(kept, p)
			seen[p] = true
			continue
		}
		exists, j := l.readOne(p, quick)
		if !exists {
			continue
		}
		kept = append(kept, p)
		seen[p] = true
		if j != nil {
			jobs = append(jobs, j)
		}
	}
	for p := range l.files {
		if !seen[p] {
			delete(l.files, p)
		}
	}
	l.decode(jobs)
	return kept
}

// readOne stats and reads one file, recording what it finds in l.files: exists is false when the file is gone
// (its state is left for the caller to drop), j is the content to decode when it changed. With quick, a file
// whose stat signature is unchanged is not read.
func (l *Loader) readOne(p string, quick bool) (exists bool, j *readJob) {
	l.work.read++
	sig, sigOK := statSig(p)
	if st := l.files[p]; quick && sigOK && st != nil && st.hashed && st.sig == sig {
		return true, nil
	}
	data, err := deffile.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed since the listing
	}
	st := l.files[p]
	if st == nil {
		st = &fileState{}
		l.files[p] = st
	}
	if err != nil {
		st.hashed = false
		l.failed(p, st, err)
		return true, nil
	}
	h := sha256.Sum256(data)
	st.sig = sig
	if !sigOK {
		st.sig = fileSig{}
	}
	if st.hashed && h == st.hash {
		return true, nil
	}
	st.hash, st.hashed = h, true
	if len(data) == 0 && len(st.ids) == 0 {
		// Most likely a file being written; nothing to apply and nothing to keep.
		st.err = nil
		return true, nil
	}
	return true, &readJob{path: p, data: data, st: st}
}

// decode parses the changed files of jobs in parallel and records the results.
func (l *Loader) decode(jobs []*readJob) {
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
				j.objs, j.err = decodeFile(j.path, j.data, l.opts.Defaults)
			}
		})
	}
	wg.Wait()
	for _, j := range jobs {
		if j.err != nil {
			l.failed(j.path, j.st, j.err)
			continue
		}
		if j.st.err != nil {
			l.log.Info("file parses again", "file", j.path)
			for _, id := range j.st.ids {
				l.opts.Recorder.Event(id.name, EventTypeNormal, ReasonParseFixed, j.path+" parses again")
			}
		}
		j.st.objs, j.st.ids, j.st.data, j.st.err = j.objs, idsOf(j.objs), j.data, nil
		l.held = append(l.held, j.st)
	}
}

// failed records that a file does not parse, reporting each distinct error once.
func (l *Loader) failed(path string, st *fileState, err error) {
	same := st.err != nil && st.err.Error() == err.Error()
	st.err = err
	if same {
		return
	}
	if len(st.ids) == 0 {
		l.log.Error(err, "file does not parse; ignored", "file", path)
		l.opts.Recorder.Event("", EventTypeWarning, ReasonParseError, err.Error())
		return
	}
	for _, id := range st.ids {
		l.log.Error(err, "file does not parse; keeping its last good version", "file", path, "domain", id.name)
		l.opts.Recorder.Event(id.name, EventTypeWarning, ReasonParseError, err.Error()+"; keeping the last good version")
	}
}

// desired computes the domains the directory asks for, resolving claims: by path order between files, and
// in favour of other sources against files.
func (l *Loader) desired(paths []string, all []*v1alpha1.XenDomain) map[string]*want {
	otherKind := map[string]string{} // name → source kind, of objects from other sources
	otherUUID := map[string]string{} // domain uuid → name, of objects from other sources
	for _, o := range all {
		l.work.visited++
		kind := o.Labels[v1alpha1.LabelSource]
		if kind == v1alpha1.SourceKindFile {
			continue
		}
		if kind == "" {
			kind = "unknown"
		}
		otherKind[o.Name] = kind
		if u := o.DomainUUID(); u != "" {
			otherUUID[u] = o.Name
		}
	}
	r := &resolver{
		wants:     make(map[string]*want, len(paths)),
		uuids:     make(map[string]string, len(paths)),
		active:    map[string]bool{},
		otherKind: func(name string) string { return otherKind[name] },
		otherUUID: func(u string) (string, string) { n := otherUUID[u]; return n, otherKind[n] },
	}
	for _, p := range paths {
		st := l.files[p]
		for i := range st.ids {
			l.claim(r, p, st, i)
		}
	}
	for k := range l.reported {
		if !r.active[k] {
			delete(l.reported, k)
		}
	}
	return r.wants
}

// resolver is the state of one resolution of claims: the wants so far, by name and by UUID, the conflicts
// found, and the objects of other sources by name and by UUID.
type resolver struct {
	wants     map[string]*want
	uuids     map[string]string // spec.domain.uuid → name, of the wants
	active    map[string]bool   // the conflict keys found
	otherKind func(name string) string
	otherUUID func(uuid string) (name, kind string)
}

// claim resolves the claim of the idx-th object of the file p, after those of the files before p: it becomes a
// want unless an earlier file, or an object of another source, has its name or UUID.
func (l *Loader) claim(r *resolver, p string, st *fileState, idx int) {
	l.work.visited++
	id := st.ids[idx]
	var msg string
	if w := r.wants[id.name]; w != nil {
		msg = fmt.Sprintf("%s: domain %q is also described by %s, which takes precedence", p, id.name, w.path)
	} else if kind := r.otherKind(id.name); kind != "" {
		msg = fmt.Sprintf("%s: domain %q already exists as a %s domain; not applied", p, id.name, kind)
	} else if n := r.uuids[id.uuid]; n != "" {
		msg = fmt.Sprintf("%s: domain %q has uuid %s, which domain %q from %s already has", p, id.name, id.uuid, n, r.wants[n].path)
	} else if n, kind := r.otherUUID(id.uuid); n != "" {
		msg = fmt.Sprintf("%s: domain %q has uuid %s, which %s domain %q already has", p, id.name, id.uuid, kind, n)
	}
	if msg != "" {
		l.conflict(r.active, p, id.name, msg)
		return
	}
	var srcErr string
	if st.err != nil {
		srcErr = st.err.Error()
	}
	r.wants[id.name] = &want{claimID: id, path: p, st: st, idx: idx, srcErr: srcErr}
	r.uuids[id.uuid] = id.name
}

// conflict reports a claim that lost, once for as long as it lasts.
func (l *Loader) conflict(active map[string]bool, path, name, msg string) {
	key := path + "\x00" + name
	active[key] = true
	if l.reported[key] == msg {
		return
	}
	l.reported[key] = msg
	l.log.Error(errors.New(msg), "domain not applied", "file", path, "domain", name)
	l.opts.Recorder.Event(name, EventTypeWarning, ReasonConflict, msg)
}
