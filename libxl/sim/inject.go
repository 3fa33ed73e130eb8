package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"

	"github.com/virtxend/virtxend/libxl"
)

// InjectDir is the directory under StateDir where another process (a test, an operator trying the daemon
// out) asks the simulated host to act behind the daemon's back, as someone at a real host's console would
// with xl. A request is a file named DOMID.ACTION:
//
//	DOMID.crash     the guest crashes (InjectCrash)
//	DOMID.mem-set   the guest's balloon target becomes the KiB number the file holds, as `xl mem-set` does
//	DOMID.migrate-bandwidth  the guest's migration sends go at most at the MiB/s the file holds (0 lifts it),
//	                as over a slow link (SetMigrationBandwidth)
//	DOMID.migrate-cut  the guest's migration send in flight (or the next) breaks, as the network would
//	                (CutMigration)
//
// The host handles a request as soon as it appears (and those left while no Host was open, when one opens),
// then removes the file; a request that fails leaves DOMID.ACTION.error with the reason instead. Write a
// request in one write (echo 262144 > 5.mem-set) or to a dot-file renamed into place: dot-files are
// ignored, and an empty mem-set waits for its write.
const InjectDir = "inject"

// injector watches InjectDir for requests.
type injector struct {
	dir     string
	watcher *fsnotify.Watcher
	done    chan struct{}
	// mu serialises passes over the directory (the watcher's and the first one).
	mu sync.Mutex
}

// startInjector makes InjectDir, handles the requests already there, and watches it for more until stop. A
// host that cannot watch it (no inotify instance left) handles only those it found when it opened.
func (h *Host) startInjector() *injector {
	in := &injector{dir: filepath.Join(h.opts.StateDir, InjectDir), done: make(chan struct{})}
	if err := os.MkdirAll(in.dir, 0o700); err != nil {
		close(in.done)
		return in
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(in.dir); err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		close(in.done)
	} else {
		in.watcher = w
		go in.run(h)
	}
	in.pass(h)
	return in
}

func (in *injector) run(h *Host) {
	defer close(in.done)
	for {
		select {
		case ev, ok := <-in.watcher.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
				in.pass(h)
			}
		case _, ok := <-in.watcher.Errors:
			if !ok {
				return
			}
			in.pass(h) // events were lost (queue overflow): look at what is there
		}
	}
}

// stop ends the watcher and waits for it.
func (in *injector) stop() {
	if in == nil {
		return
	}
	if in.watcher != nil {
		_ = in.watcher.Close()
	}
	<-in.done
}

// pass handles every complete request in the directory.
func (in *injector) pass(h *Host) {
	in.mu.Lock()
	defer in.mu.Unlock()
	entries, err := os.ReadDir(in.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".error") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(in.dir, name)
		err := h.injectRequest(path, name)
		if errors.Is(err, errIncomplete) || errors.Is(err, ErrClosed) {
			continue // written on, or left for the next host on this directory
		}
		if err != nil {
			// The reason is in place, whole, before the request goes: a test that sees the request gone
			// finds it.
			tmp := filepath.Join(in.dir, "."+name+".error")
			if os.WriteFile(tmp, []byte(err.Error()+"\n"), 0o600) == nil {
				_ = os.Rename(tmp, path+".error")
			}
		}
		_ = os.Remove(path)
	}
}

// errIncomplete is a request still being written.
var errIncomplete = errors.New("request not complete")

// injectRequest carries out the request in the file path, named DOMID.ACTION.
func (h *Host) injectRequest(path, name string) error {
	ids, action, ok := strings.Cut(name, ".")
	id, err := strconv.ParseUint(ids, 10, 16)
	if !ok || err != nil {
		return fmt.Errorf("%s: not DOMID.ACTION", name)
	}
	domid := libxl.DomID(id)
	switch action {
	case "crash":
		return h.InjectCrash(domid)
	case "migrate-cut":
		h.CutMigration(domid)
		return nil
	case "mem-set", "migrate-bandwidth":
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		text := strings.TrimSpace(string(b))
		if text == "" {
			return errIncomplete // created, not yet written (echo N > file): the write event brings it
		}
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			unit := "KiB"
			if action == "migrate-bandwidth" {
				unit = "MiB/s"
			}
			return fmt.Errorf("%s: %q is not a %s number", name, text, unit)
		}
		if action == "migrate-bandwidth" {
			h.SetMigrationBandwidth(domid, n<<20)
			return nil
		}
		return h.SetMemoryTarget(context.Background(), domid, n)
	}
	return fmt.Errorf("%s: unknown action %q (crash, mem-set, migrate-bandwidth, migrate-cut)", name, action)
}
