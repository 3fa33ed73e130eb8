package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/digitalocean/go-libvirt"
	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// VIR_DOMAIN_CONSOLE_FORCE: take the console over from the session holding it.
const consoleForce = 1 << 0

// consoleKey identifies one console device of one domain, within one facade.
type consoleKey struct {
	f    *Facade
	uuid string
	kind libxl.ConsoleKind
	n    int
}

// consoleSession is a client attached to a console: the stream to it and the pty it is joined to.
type consoleSession struct {
	st   *rpc.Stream
	pty  *os.File
	once sync.Once
}

// registerConsole: virsh console.
func registerConsole(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainOpenConsole, func(ctx context.Context, call *rpc.Call, a *libvirt.DomainOpenConsoleArgs) (*struct{}, error) {
		return nil, f.openConsole(ctx, call, a)
	})
}

// openConsole is virDomainOpenConsole: the call's stream is joined to the pty of the domain's console, one
// session per console unless VIR_DOMAIN_CONSOLE_FORCE takes it over.
func (f *Facade) openConsole(ctx context.Context, call *rpc.Call, a *libvirt.DomainOpenConsoleArgs) error {
	if err := noFlags(a.Flags&^consoleForce, "libxlDomainOpenConsole"); err != nil {
		return err
	}
	d, err := f.lookup(ctx, a.Dom)
	if err != nil {
		return err
	}
	if err := notDom0(d); err != nil {
		return err
	}
	if err := checkActive(d); err != nil {
		return err
	}
	devName, named := optString(a.DevName)
	kind, n, err := consoleDevice(d, devName, named)
	if err != nil {
		return err
	}
	path, err := f.HV.ConsolePath(ctx, libxl.DomID(d.ID()), kind, n)
	switch {
	case errors.Is(err, libxl.ErrNoDomain):
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is not running")
	case errors.Is(err, libxl.ErrNoDevice):
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "cannot find character device %s", orNull(devName, named))
	case err != nil:
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "console of domain '%s': %v", d.Name, err)
	}
	pty, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return rpc.Errorf(rpc.CodeSystemError, rpc.DomainLibxl, "Unable to open %s: %v", path, err)
	}
	if err := libxl.MakeRaw(pty); err != nil {
		pty.Close()
		return rpc.Errorf(rpc.CodeSystemError, rpc.DomainLibxl, "unable to set tty attributes of %s: %v", path, err)
	}
	key := consoleKey{f: f, uuid: strings.ToLower(d.UUID), kind: kind, n: n}
	s := &consoleSession{pty: pty}
	f.consolesMu.Lock()
	old := f.consoles[key]
	if old != nil && a.Flags&consoleForce == 0 {
		f.consolesMu.Unlock()
		pty.Close()
		return rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "Active console session exists for this domain")
	}
	if f.consoles == nil {
		f.consoles = map[consoleKey]*consoleSession{}
	}
	f.consoles[key] = s
	f.consolesMu.Unlock()
	if old != nil {
		go old.end(key, rpc.NewError(rpc.CodeOperationAborted, rpc.DomainStreams, "console session taken over by another client"))
	}
	s.st = call.OpenStream()
	go s.toClient(key)
	go s.toGuest(key)
	return nil
}

// consoleDevice picks the console of libxlDomainOpenConsole: the first console (a serial port when its target
// is serial), else the first serial port; a named device must be a serial port's alias, serialN.
func consoleDevice(d *dom, name string, named bool) (libxl.ConsoleKind, int, error) {
	notFound := rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "cannot find character device %s", orNull(name, named))
	if d.Obj == nil {
		if named {
			return 0, 0, notFound
		}
		if d.Obs != nil && d.Obs.Info.Type == libxl.DomainTypeHVM {
			return libxl.ConsoleSerial, 0, nil
		}
		return libxl.ConsolePV, 0, nil
	}
	devs := &d.Obj.Spec.Domain.Devices
	notPTY := func(alias string) error {
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "character device %s is not using a PTY", alias)
	}
	if named {
		for i := range devs.Serials {
			if name == fmt.Sprintf("serial%d", i) {
				if devs.Serials[i].Type != "pty" {
					return 0, 0, notPTY(name)
				}
				return libxl.ConsoleSerial, i, nil
			}
		}
		return 0, 0, notFound
	}
	switch {
	case len(devs.Consoles) > 0:
		c := devs.Consoles[0]
		if c.Type != "pty" {
			return 0, 0, notPTY("console0")
		}
		if c.Target != nil && c.Target.Type == "serial" {
			n := 0
			if c.Target.Port != nil {
				n = int(*c.Target.Port)
			}
			return libxl.ConsoleSerial, n, nil
		}
		return libxl.ConsolePV, 0, nil
	case len(devs.Serials) > 0:
		if devs.Serials[0].Type != "pty" {
			return 0, 0, notPTY("serial0")
		}
		return libxl.ConsoleSerial, 0, nil
	}
	return 0, 0, notFound
}

func orNull(s string, ok bool) string {
	if !ok {
		return "<null>"
	}
	return s
}

// toClient copies what the guest prints to the client. When the pty hangs up (the domain is gone) the client is
// told the data ended.
func (s *consoleSession) toClient(key consoleKey) {
	buf := make([]byte, 16<<10)
	for {
		n, err := s.pty.Read(buf)
		if n > 0 {
			if _, werr := s.st.Write(buf[:n]); werr != nil {
				s.end(key, nil)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				_ = s.st.CloseWrite()
			}
			return
		}
	}
}

// toGuest copies what the client types to the guest, until the client finishes or aborts the stream.
func (s *consoleSession) toGuest(key consoleKey) {
	buf := make([]byte, 16<<10)
	for {
		n, err := s.st.Read(buf)
		if n > 0 {
			if _, werr := s.pty.Write(buf[:n]); werr != nil {
				s.end(key, nil)
				return
			}
		}
		if err != nil {
			s.end(key, nil)
			return
		}
	}
}

// end closes the session once: the pty, and the stream (with abort when it did not end cleanly), and frees
// the console for the next client.
func (s *consoleSession) end(key consoleKey, abort error) {
	s.once.Do(func() {
		f := key.f
		f.consolesMu.Lock()
		if f.consoles[key] == s {
			delete(f.consoles, key)
		}
		f.consolesMu.Unlock()
		s.pty.Close()
		if abort != nil {
			_ = s.st.Abort(abort)
		}
		_ = s.st.Close()
	})
}
