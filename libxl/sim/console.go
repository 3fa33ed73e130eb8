package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/libxl"
)

// consoleBufMax bounds what a guest may have printed that nobody has read yet; older output is dropped, as
// xenconsoled's buffer limit does.
const consoleBufMax = 64 << 10

// console is a guest's console: a pty whose master side the simulated guest holds. The Host also keeps the
// slave open, as xenconsoled does, so that the pty outlives clients that come and go (a master whose slave has
// no opener reads EIO).
type console struct {
	master, slave *os.File
	path          string
	fd            int32 // master's descriptor, for the echo poller

	mu      sync.Mutex
	out     []byte // printed by the guest, not yet written to the pty
	closed  bool
	writing bool // a flush runs: it writes out until it is empty
}

// openConsole allocates a pty in raw mode (xenconsoled cfmakeraw()s its ptys) and starts the guest's side:
// an echo of what it is sent (by the echo poller); what the guest prints is written by a flush started on
// demand. An idle console costs a small buffer and no goroutine: a host of ten thousand simulated guests keeps
// as many.
func openConsole() (*console, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	var n uint32
	var mfd int32
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			mfd = int32(fd) // not master.Fd(), which would make the descriptor blocking
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err != nil {
				return
			}
			n, err = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := libxl.MakeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("set %s raw: %w", path, err)
	}
	c := &console{master: master, slave: slave, path: path, fd: mfd}
	if err := echoes.add(c); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	return c, nil
}

// print queues guest output; it never blocks on the pty.
func (c *console) print(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.out = append(c.out, b...)
	if over := len(c.out) - consoleBufMax; over > 0 {
		c.out = append(c.out[:0], c.out[over:]...)
	}
	if !c.writing {
		c.writing = true
		go c.flush()
	}
}

// flush writes the queued output to the pty until none is left (or the console is closed), in order: only one
// flush runs at a time.
func (c *console) flush() {
	for {
		c.mu.Lock()
		b := c.out
		c.out = nil
		if len(b) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if _, err := c.master.Write(b); err != nil {
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return // closed
		}
	}
}

// echoPoller is the guests reading their consoles, for every console of the process: one goroutine waits
// (epoll) until a client typed something on any of them and echoes it, turning a carriage return into a new line
// as a tty in cooked mode does. A goroutine blocked in a read per console would cost its stack per guest.
type echoPoller struct {
	once sync.Once
	epfd int
	err  error

	mu   sync.Mutex
	cons map[int32]*console // by master descriptor
}

var echoes echoPoller

// add watches c's master.
func (p *echoPoller) add(c *console) error {
	p.once.Do(func() {
		if p.epfd, p.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); p.err == nil {
			p.cons = map[int32]*console{}
			go p.run()
		}
	})
	if p.err != nil {
		return p.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: c.fd}); err != nil {
		return err
	}
	p.cons[c.fd] = c
	return nil
}

// remove stops watching c; called before its master is closed. The poller reads with p.mu held, so it never
// reads a descriptor closed (or reused) meanwhile.
func (p *echoPoller) remove(c *console) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cons[c.fd] == c {
		delete(p.cons, c.fd)
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
}

func (p *echoPoller) run() {
	events := make([]unix.EpollEvent, 64)
	buf := make([]byte, 512) // what clients type: small reads are fine
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.cons[ev.Fd]
			k := 0
			if c != nil {
				k, err = unix.Read(int(c.fd), buf) // the descriptor is non-blocking (the runtime's poller made it so)
				if err != nil && err != unix.EAGAIN && err != unix.EINTR {
					// The pty failed (the host keeps its slave open, so not a hang-up): stop watching it.
					delete(p.cons, c.fd)
					_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
				}
			}
			p.mu.Unlock()
			if k > 0 {
				c.print(bytes.ReplaceAll(buf[:k], []byte("\r"), []byte("\r\n")))
			}
		}
	}
}

// close hangs up the pty: clients reading the slave see end of file or EIO.
func (c *console) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	echoes.remove(c)
	c.master.Close()
	c.slave.Close()
}

// banner is what a guest prints while it boots.
func banner(d *domain) string {
	return fmt.Sprintf("Xen simulated guest %s booting (domid %d, %s, %d vcpus, %d KiB)\r\n"+
		"Welcome to the simulated guest %s.\r\n\r\n%s login: ", d.name, d.id, d.typ, d.onlineCount(), d.curKiB,
		d.name, d.name)
}

// consoleOf opens d's console on first use; called with h.mu held.
func (h *Host) consoleOf(d *domain) (*console, error) {
	if d.console != nil {
		return d.console, nil
	}
	c, err := openConsole()
	if err != nil {
		return nil, fmt.Errorf("domain %d console: %w", d.id, err)
	}
	if d.bootedHere {
		c.print([]byte(banner(d)))
	} else {
		// The guest booted under an earlier daemon; its banner went to that daemon's pty.
		c.print([]byte("\r\n" + d.name + " login: "))
	}
	c.print(d.outbuf)
	d.outbuf = nil
	d.console = c
	return c, nil
}

// ConsolePath returns the pty (/dev/pts/N) of the domain's console number 0: ConsolePV for every guest,
// ConsoleSerial for HVM guests. The pty is allocated on first use; after a daemon restart a guest gets a new
// one (its old pty went with the old daemon).
func (h *Host) ConsolePath(ctx context.Context, domid libxl.DomID, kind libxl.ConsoleKind, n int) (string, error) {
	if err := h.lockCtx(ctx); err != nil {
		return "", err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return "", fmt.Errorf("console: %w", err)
	}
	switch {
	case kind != libxl.ConsolePV && kind != libxl.ConsoleSerial:
		return "", fmt.Errorf("console: domain %d: unknown console kind %d: %w", domid, kind, libxl.ErrInvalid)
	case n != 0 || (kind == libxl.ConsoleSerial && d.typ != libxl.DomainTypeHVM):
		return "", fmt.Errorf("console: domain %d (%s) has no console %d of kind %d: %w",
			domid, d.typ, n, kind, libxl.ErrNoDevice)
	case d.saving || d.state == libxl.StateDying:
		return "", fmt.Errorf("console: domain %d is %s: %w", domid, d.state, libxl.ErrBadState)
	}
	c, err := h.consoleOf(d)
	if err != nil {
		return "", err
	}
	return c.path, nil
}

// GuestPrint makes the guest of domain domid print text on its console, as a guest's kernel or getty would.
// Output printed before anyone asked for the console is kept (up to 64 KiB) and appears when it is opened.
func (h *Host) GuestPrint(domid libxl.DomID, text string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("guest print: %w", err)
	}
	if d.console != nil {
		d.console.print([]byte(text))
		return nil
	}
	d.outbuf = append(d.outbuf, text...)
	if over := len(d.outbuf) - consoleBufMax; over > 0 {
		d.outbuf = append(d.outbuf[:0], d.outbuf[over:]...)
	}
	return nil
}
