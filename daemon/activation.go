package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
	sdaemon "github.com/coreos/go-systemd/v22/daemon"
)

// Names systemd gives the descriptors of the socket units (the default FileDescriptorName is the unit name).
const (
	fdNameRW    = "virtxend.socket"
	fdNameRO    = "virtxend-ro.socket"
	fdNameAdmin = "virtxend-admin.socket"
)

// activatedSockets returns the sockets systemd passed in, or nil when the daemon was not socket-activated.
// Each descriptor is matched by its name, or else by the file name of the socket it listens on. The socket keys
// of virtxend.conf do not apply to them: the units decide paths and modes.
func activatedSockets() (*sockets, error) {
	if os.Getenv("LISTEN_FDS") == "" {
		return nil, nil
	}
	named, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	s := &sockets{}
	for name, ls := range named {
		for _, l := range ls {
			if l == nil {
				continue
			}
			slot := s.bind(name, l)
			if slot == nil {
				l.Close()
				return nil, fmt.Errorf("socket activation: descriptor %q (%s) is not one of virtxend's sockets", name, l.Addr())
			}
			if *slot != nil {
				l.Close()
				return nil, fmt.Errorf("socket activation: two descriptors for %s", l.Addr())
			}
			*slot = l
		}
	}
	if s.rw == nil {
		s.close()
		return nil, fmt.Errorf("socket activation: the read-write socket (%s) was not passed", fdNameRW)
	}
	return s, nil
}

// bind matches a listener to the rw, ro or admin slot of s.
func (s *sockets) bind(name string, l net.Listener) *net.Listener {
	switch name {
	case fdNameRW:
		return &s.rw
	case fdNameRO:
		return &s.ro
	case fdNameAdmin:
		return &s.admin
	}
	addr := l.Addr().String()
	switch {
	case strings.HasSuffix(addr, "-admin-sock"):
		return &s.admin
	case strings.HasSuffix(addr, "-sock-ro"):
		return &s.ro
	case strings.HasSuffix(addr, "-sock"):
		return &s.rw
	}
	return nil
}

// notify sends a state line to systemd when it supervises the daemon (Type=notify); it is a no-op otherwise.
func notify(state string) {
	_, _ = sdaemon.SdNotify(false, state)
}
