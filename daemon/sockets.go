package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/virtxend/virtxend/config"
)

// sockets are the daemon's three listeners.
type sockets struct {
	rw, ro, admin net.Listener
	paths         []string // files to remove at exit (own listeners only)
}

func (s *sockets) close() {
	for _, l := range []net.Listener{s.rw, s.ro, s.admin} {
		if l != nil {
			l.Close()
		}
	}
	for _, p := range s.paths {
		os.Remove(p)
	}
}

// listenAll creates the three sockets in unix_sock_dir with the configured modes and group.
func listenAll(cfg *config.Daemon) (*sockets, error) {
	rw, ro, admin := cfg.SocketPaths()
	if err := os.MkdirAll(filepath.Dir(rw), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	gid := -1
	if cfg.UnixSockGroup != "" {
		g, err := lookupGroup(cfg.UnixSockGroup)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	modes := map[string]string{rw: cfg.UnixSockRWPerms, ro: cfg.UnixSockROPerms, admin: cfg.UnixSockAdminPerms}
	s := &sockets{}
	for _, p := range []string{rw, ro, admin} {
		mode, err := strconv.ParseUint(modes[p], 8, 32)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("socket %s: bad mode %q", p, modes[p])
		}
		l, err := listenUnix(p, os.FileMode(mode), gid)
		if err != nil {
			s.close()
			return nil, err
		}
		s.paths = append(s.paths, p)
		switch p {
		case rw:
			s.rw = l
		case ro:
			s.ro = l
		default:
			s.admin = l
		}
	}
	return s, nil
}

// listenUnix binds path. A socket file left by a crashed daemon is replaced; one a live daemon answers on is not.
func listenUnix(path string, mode os.FileMode, gid int) (net.Listener, error) {
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s is in use: is another virtxend running?", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	// Create the socket with no access, then open it up: no window where it is reachable with the wrong mode.
	old := syscall.Umask(0o777)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("socket %s: set group: %w", path, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket %s: set mode: %w", path, err)
	}
	return l, nil
}

func lookupGroup(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		return id, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return 0, fmt.Errorf("unix_sock_group: no group %q", name)
		}
		return 0, fmt.Errorf("unix_sock_group %q: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}
