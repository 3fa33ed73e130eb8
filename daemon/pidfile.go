package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// PidFile is a pid file held with an exclusive lock for the life of the process, as libvirt's daemons hold
// theirs: a second instance cannot take it, and a stale file from a crashed run is simply taken over.
type PidFile struct {
	path string
	f    *os.File
}

// AcquirePidFile creates or takes over path, locks it and writes the pid. It fails when another live process
// holds it.
func AcquirePidFile(path string, pid int) (*PidFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pid file %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			holder, _ := os.ReadFile(path)
			return nil, fmt.Errorf("failed to acquire pid file '%s': another virtxend (pid %s) is running", path, trimPid(holder))
		}
		// The file may have been unlinked by its previous holder between open and lock: retry on a fresh one.
		var a, b unix.Stat_t
		if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil || a.Ino != b.Ino {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("pid file %s: %w", path, err)
		}
		if _, err := f.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("pid file %s: %w", path, err)
		}
		return &PidFile{path: path, f: f}, nil
	}
}

// Release removes the pid file and drops the lock.
func (p *PidFile) Release() error {
	if p == nil || p.f == nil {
		return nil
	}
	err := os.Remove(p.path)
	p.f.Close()
	p.f = nil
	return err
}

func trimPid(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "unknown"
	}
	return s
}
