package specdir

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/domxml"
)

// DefaultDir is where the drop-in directory is unless domains_dir says otherwise.
const DefaultDir = "/etc/virtxend/domains.d"

// Options tune a Loader. Zero values take the defaults noted.
type Options struct {
	// Rescan is the period of rescans, a safety net under fsnotify: every file is stat'ed, and read again when
	// its stat signature changed (while the directory is watched, only every tenth rescan stats them, the others
	// list the directory). 30 s.
	Rescan time.Duration
	// Debounce is how long the directory must stay quiet after an fsnotify event before a pass runs. 10 ms.
	// A steady stream of events still gets a pass every MaxDelay.
	Debounce time.Duration
	// MaxDelay bounds the time from an fsnotify event to the pass that applies it. 250 ms.
	MaxDelay time.Duration
	// RetryDelay is how soon a pass that could not finish (store conflicts, an old object still being
	// deleted) runs again. 500 ms.
	RetryDelay time.Duration
	// Log receives the loader's log lines; the keys are "file" and "domain".
	Log logr.Logger
	// Recorder receives events. None when nil.
	Recorder EventSink
	// Defaults are handed to domxml.ApplyDefaults. Its Rand is replaced by a stream seeded by each domain's
	// UUID, so the defaults drawn at random are the same on every parse.
	Defaults domxml.Defaults
}

func (o *Options) defaults() {
	if o.Rescan <= 0 {
		o.Rescan = 30 * time.Second
	}
	if o.Debounce <= 0 {
		o.Debounce = 10 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 250 * time.Millisecond
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	if o.Recorder == nil {
		o.Recorder = nopSink{}
	}
}

// Loader keeps the file-sourced XenDomain objects in the store equal to what the drop-in directory says.
type Loader struct {
	dir  string
	c    client.Client
	opts Options
	log  logr.Logger

	// mu serialises passes and guards the fields below it.
	mu       sync.Mutex
	files    map[string]*fileState  // by path
	applied  map[string]appliedFile // by name: the file's object as last applied
	reported map[string]string      // conflict key → message, so each conflict is reported once
	storeErr map[string]string      // name → the store write error last reported for it
	// pending are the names a pass left work undone for: a retry pass looks at them again.
	pending map[string]bool
	// wants is the last pass's resolution of the files' claims, by name; byName and byUUID index the files'
	// last good objects (the claims) by name and by spec.domain.uuid, each to the sorted paths of the files
	// holding them. With them a pass after events resolves only the claims the changed files touch.
	wants          map[string]*want
	byName, byUUID map[string][]string
	// rescans counts the quick passes without events (periodic rescans and overflows).
	rescans int
	// watched is set during a periodic rescan while fsnotify watches the directory: the rescan then lists the
	// directory without stat'ing every file (the full one every fullRescan-th rescan still does).
	watched bool
	// indexed says wants and the indexes are valid and the client is the local store, whose objects can be
	// looked up by name and by UUID: passes after events are then incremental.
	indexed bool

	ownersMu sync.RWMutex
	owners   map[string]string // name → path of the file that provides it
	// paths are the directory's relevant files as of the last pass, sorted: an event pass starts from them
	// and the paths its events name instead of listing and stat'ing the whole directory.
	paths []string
	// held are the files whose objects the pass decoded; it releases them when it ends.
	held []*fileState
	// settled records, by name, the stored object and the want a pass found already equal (settledPair), so that
	// the next pass skips comparing them while neither changed.
	settled map[string]settledPair
	// work counts what the last pass did per domain, so tests can tell a pass that touches every domain.
	work passWork
	// sharedObjects says the last listing returned the store's own immutable objects, not copies.
	sharedObjects bool

	synced     chan struct{}
	syncedOnce sync.Once
}

// New returns a Loader for dir writing through c. Nothing happens until Run or Rescan.
func New(dir string, c client.Client, opts Options) *Loader {
	opts.defaults()
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	l := &Loader{
		dir:      filepath.Clean(dir),
		c:        c,
		opts:     opts,
		log:      opts.Log.WithValues("dir", dir),
		files:    map[string]*fileState{},
		applied:  map[string]appliedFile{},
		reported: map[string]string{},
		storeErr: map[string]string{},
		settled:  map[string]settledPair{},
		pending:  map[string]bool{},
		wants:    map[string]*want{},
		byName:   map[string][]string{},
		byUUID:   map[string][]string{},
		owners:   map[string]string{},
		synced:   make(chan struct{}),
	}
	return l
}

// Synced is closed once the first full pass over the directory has been applied to the store.
func (l *Loader) Synced() <-chan struct{} { return l.synced }

// File returns the file that currently provides the domain named name, for messages such as the facade's
// refusal to edit a file-sourced domain.
func (l *Loader) File(name string) (string, bool) {
	l.ownersMu.RLock()
	defer l.ownersMu.RUnlock()
	p, ok := l.owners[name]
	return p, ok
}

// Rescan runs one full pass now (SIGHUP). An error means the directory or the store could not be read; the
// store is then left as it was.
func (l *Loader) Rescan(ctx context.Context) error {
	_, err := l.pass(ctx, false, nil)
	return err
}

// Run applies the directory until ctx is done: a full pass at once, then a pass after every burst of fsnotify
// events, every Options.Rescan, and soon after a pass that left work undone. It returns nil when ctx ends.
func (l *Loader) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		l.log.Error(err, "cannot watch the directory; relying on periodic rescans")
		w = nil
	} else {
		defer w.Close()
	}
	watching := l.watch(w)

	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	ticker := time.NewTicker(l.opts.Rescan)
	defer ticker.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var first time.Time // first event of the burst being debounced
	// dirty holds the paths named by the events since the last pass; nil after an overflow, when only a full
	// pass can tell what changed.
	dirty := map[string]bool{}

	// Passes that leave work undone are retried with backoff: up to maxPending while waiting for the store
	// (an old object being deleted, a conflict), up to Rescan when the directory or the store cannot be read.
	const maxPending = 5 * time.Second
	fails := 0
	// quick passes read only the files the events named (after events and retries) or whose stat signature
	// changed (rescans, overflows); the first pass and Rescan read everything.
	run := func(quick bool) {
		only := dirty // nil after an overflow or at a rescan: stat every file
		dirty = map[string]bool{}
		again, err := l.pass(ctx, quick, only)
		if ctx.Err() != nil {
			return
		}
		if err == nil && !again {
			fails = 0
			return
		}
		limit := min(maxPending, l.opts.Rescan)
		if err != nil {
			l.log.Error(err, "pass over the directory failed; retrying")
			limit = l.opts.Rescan
		}
		retry.Reset(min(l.opts.RetryDelay<<min(fails, 6), limit))
		fails++
	}
	run(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) == l.dir {
				// The directory itself went away or was replaced: watch it again at the next rescan.
				if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					_ = w.Remove(l.dir)
					watching = false
				}
			} else if !relevant(filepath.Base(ev.Name)) {
				continue
			} else if dirty != nil {
				dirty[filepath.Clean(ev.Name)] = true
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			d := l.opts.Debounce
			if left := first.Add(l.opts.MaxDelay).Sub(now); left < d {
				d = max(left, 0)
			}
			debounce.Reset(d)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow loses events: a full pass catches up.
			l.log.Error(err, "fsnotify")
			dirty = nil
			debounce.Reset(0)
		case <-debounce.C:
			first = time.Time{}
			run(true)
		case <-retry.C:
			run(true)
		case <-ticker.C:
			if !watching {
				watching = l.watch(w)
			}
			// A rescan stats every file and reads those whose signature changed: reading ten thousand
			// unchanged files every interval would be most of an idle daemon's work. Rescan (SIGHUP) reads all.
			// While the watch works, the rescans in between full ones only list the directory.
			dirty = nil
			l.mu.Lock()
			l.watched = watching
			l.mu.Unlock()
			run(true)
			l.mu.Lock()
			l.watched = false
			l.mu.Unlock()
		}
	}
}

// watch adds the directory to w; a missing directory is watched once it exists (next rescan).
func (l *Loader) watch(w *fsnotify.Watcher) bool {
	if w == nil {
		return false
	}
	if err := w.Add(l.dir); err != nil {
		l.log.V(1).Info("not watching the directory", "error", err.Error())
		return false
	}
	return true
}

// pass reads the directory and applies it. again reports work left undone that a retry may finish.
//
// A quick pass (after fsnotify events or a retry) neither lists the directory nor reads a file that only is not
// among only, the paths the events named: with ten thousand files, one edited file costs one read.
func (l *Loader) pass(ctx context.Context, quick bool, only map[string]bool) (again bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.release()
	start := time.Now()
	l.work = passWork{}
	if quick && l.indexed {
		if only != nil {
			return l.eventPass(ctx, only)
		}
		// A periodic rescan (or an overflow) stats every file and applies those that changed, as events would
		// have; every fullRescan-th one resolves and compares every domain, a safety net under the indexes.
		if l.rescans++; l.rescans%fullRescan != 0 {
			changed, err := l.changed(!l.watched)
			if err != nil {
				return false, err
			}
			return l.eventPass(ctx, changed)
		}
	}
	var paths []string
	if quick && only != nil {
		paths = l.knownPlus(only)
	} else if paths, err = l.list(); err != nil {
		return false, err
	}
	paths = l.readAll(paths, quick, only)
	l.paths = paths
	all, err := l.listObjects(ctx)
	if err != nil {
		return false, err
	}
	want := l.desired(paths, all)
	again = l.apply(ctx, want, all)
	owners := make(map[string]string, len(want))
	for name, w := range want {
		owners[name] = w.path
	}
	l.ownersMu.Lock()
	l.owners = owners
	l.ownersMu.Unlock()
	l.wants = want
	l.reindex(paths)
	l.syncedOnce.Do(func() { close(l.synced) })
	l.log.V(1).Info("pass done", "files", len(paths), "domains", len(want), "took", time.Since(start).String())
	return again, nil
}
