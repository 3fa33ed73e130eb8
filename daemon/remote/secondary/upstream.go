package secondary

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// upstream is one client connection to a libvirt daemon: calls multiplexed by serial, event messages and stream
// packets handed to whoever asked for them. It speaks the REMOTE program only.
type upstream struct {
	nc   net.Conn
	path string
	// privileged reports a daemon running as root (SO_PEERCRED), which decides the URI it is opened with.
	privileged bool

	wmu sync.Mutex // one packet at a time on the wire

	mu      sync.Mutex
	serial  uint32
	pending map[uint32]chan packet
	streams map[uint32]*streamRoute
	err     error // why the connection ended; set once
	closing bool  // this daemon is closing the connection: its end is no failure
	done    chan struct{}

	onEvent func(h rpc.Header, body []byte)
}

// streamRoute carries the stream packets of one serial to its bridge until the bridge quits.
type streamRoute struct {
	ch   chan packet
	quit chan struct{}
}

// packet is one packet read from the daemon.
type packet struct {
	h    rpc.Header
	body []byte
}

// errUpstreamClosed is how a connection that this daemon closed ends.
var errUpstreamClosed = errors.New("secondary driver connection closed")

// dialUpstream connects to the daemon socket at path; onEvent receives the daemon's event messages.
func dialUpstream(ctx context.Context, path string, onEvent func(rpc.Header, []byte)) (*upstream, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, connectError(path, err)
	}
	u := &upstream{nc: nc, path: path, pending: map[uint32]chan packet{}, streams: map[uint32]*streamRoute{},
		done: make(chan struct{}), onEvent: onEvent}
	u.privileged = peerUID(nc) == 0
	go u.readLoop()
	return u, nil
}

// connectError is the error libvirt's virNetSocketNewConnectUNIX raises: VIR_ERR_SYSTEM_ERROR from
// VIR_FROM_RPC, "Failed to connect socket to 'PATH': <strerror>".
func connectError(path string, err error) *rpc.Error {
	return rpc.Errorf(rpc.CodeSystemError, rpc.DomainRPC, "Failed to connect socket to '%s': %s", path, rpc.Strerror(err))
}

// peerUID is the uid of the process at the other end of a Unix socket, or -1 when the kernel does not say.
func peerUID(nc net.Conn) int64 {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	var cred *unix.Ucred
	if cerr := raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); cerr != nil || err != nil || cred == nil {
		return -1
	}
	return int64(cred.Uid)
}

// readLoop routes the daemon's packets until the connection ends, then fails whatever still waits.
func (u *upstream) readLoop() {
	br := bufio.NewReaderSize(u.nc, 64<<10)
	var err error
	for {
		var h rpc.Header
		var body []byte
		h, body, err = rpc.ReadPacket(br, nil)
		if err != nil {
			break
		}
		u.route(h, body)
	}
	u.shutdown(readError(err))
}

// readError is the error libvirt's client reports when its daemon goes away.
func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return rpc.NewError(rpc.CodeSystemError, rpc.DomainRPC, "End of file while reading data: Input/output error")
	}
	if errors.Is(err, net.ErrClosed) {
		return errUpstreamClosed
	}
	return rpc.Errorf(rpc.CodeSystemError, rpc.DomainRPC, "Cannot recv data: %s", rpc.Strerror(err))
}

func (u *upstream) route(h rpc.Header, body []byte) {
	switch {
	case h.Program == rpc.ProgramKeepalive:
		if h.Procedure == rpc.ProcKeepalivePing {
			_ = u.write(rpc.Header{Program: rpc.ProgramKeepalive, Version: rpc.ProtocolVersion,
				Procedure: rpc.ProcKeepalivePong, Type: rpc.TypeMessage}, nil)
		}
	case h.Type == rpc.TypeMessage:
		if u.onEvent != nil {
			u.onEvent(h, body)
		}
	case h.Type == rpc.TypeStream || h.Type == rpc.TypeStreamHole:
		u.mu.Lock()
		r := u.streams[h.Serial]
		u.mu.Unlock()
		if r != nil {
			select {
			case r.ch <- packet{h, body}: // the bridge drains it; a full one holds this connection back
			case <-r.quit:
			case <-u.done:
			}
		}
	case h.Type == rpc.TypeReply || h.Type == rpc.TypeReplyWithFDs:
		u.mu.Lock()
		ch := u.pending[h.Serial]
		delete(u.pending, h.Serial)
		u.mu.Unlock()
		if ch != nil {
			ch <- packet{h, body}
		}
	}
}

// shutdown ends the connection with err and wakes every waiter.
func (u *upstream) shutdown(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return
	}
	if u.closing {
		err = errUpstreamClosed
	}
	u.err = err
	close(u.done)
	_ = u.nc.Close()
}

// Close closes the connection; calls in flight fail.
func (u *upstream) Close() { u.shutdown(errUpstreamClosed) }

// closeGracefully says CONNECT_CLOSE first, as libvirt's remote driver does, so that the daemon does not log the
// end of the connection as an error; it waits for the answer until ctx ends.
func (u *upstream) closeGracefully(ctx context.Context) {
	u.mu.Lock()
	u.closing = true
	u.mu.Unlock()
	_, _ = u.call(ctx, rpc.ProcConnectClose, nil)
	u.Close()
}

// alive reports whether the connection still works.
func (u *upstream) alive() bool {
	select {
	case <-u.done:
		return false
	default:
		return true
	}
}

func (u *upstream) write(h rpc.Header, body []byte) error {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	if err := rpc.WritePacket(u.nc, h, body); err != nil {
		return rpc.Errorf(rpc.CodeSystemError, rpc.DomainRPC, "Cannot write data: %s", rpc.Strerror(err))
	}
	return nil
}

// begin allocates a serial and the channel its reply arrives on; with stream, the serial's stream packets too.
func (u *upstream) begin(stream bool) (uint32, chan packet, chan packet, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return 0, nil, nil, u.err
	}
	u.serial++
	reply := make(chan packet, 1)
	u.pending[u.serial] = reply
	var st chan packet
	if stream {
		st = make(chan packet, 16)
		u.streams[u.serial] = &streamRoute{ch: st, quit: make(chan struct{})}
	}
	return u.serial, reply, st, nil
}

// end forgets serial's reply channel and stream.
func (u *upstream) end(serial uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.pending, serial)
	if r := u.streams[serial]; r != nil {
		close(r.quit)
		delete(u.streams, serial)
	}
}

// call sends a call of the REMOTE program and returns the body of the reply; an error reply comes back as the
// *rpc.Error the daemon sent.
func (u *upstream) call(ctx context.Context, proc int32, body []byte) ([]byte, error) {
	serial, reply, _, err := u.begin(false)
	if err != nil {
		return nil, err
	}
	defer u.end(serial)
	return u.roundTrip(ctx, proc, serial, body, reply)
}

func (u *upstream) roundTrip(ctx context.Context, proc int32, serial uint32, body []byte, reply chan packet) ([]byte, error) {
	h := rpc.Header{Program: rpc.ProgramRemote, Version: rpc.ProtocolVersion, Procedure: proc, Type: rpc.TypeCall,
		Serial: serial}
	if err := u.write(h, body); err != nil {
		u.shutdown(err)
		return nil, err
	}
	select {
	case p := <-reply:
		return replyBody(p)
	case <-u.done:
		select { // the reply may have raced the end of the connection
		case p := <-reply:
			return replyBody(p)
		default:
		}
		return nil, u.failure()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// failure is why the connection ended, as an error for a call.
func (u *upstream) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if errors.Is(u.err, errUpstreamClosed) {
		return rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "client socket is closed")
	}
	return u.err
}

func replyBody(p packet) ([]byte, error) {
	if p.h.Status == rpc.StatusOK {
		return p.body, nil
	}
	e, err := rpc.UnmarshalError(p.body)
	if err != nil {
		return nil, fmt.Errorf("secondary driver reply: %w", err)
	}
	return nil, e
}

// callXDR is call with XDR-encoded arguments and results, for the calls this daemon makes itself.
func (u *upstream) callXDR(ctx context.Context, proc int32, args, ret any) error {
	body, err := rpc.Marshal(args)
	if err != nil {
		return fmt.Errorf("encode procedure %d: %w", proc, err)
	}
	out, err := u.call(ctx, proc, body)
	if err != nil {
		return err
	}
	if ret == nil {
		return nil
	}
	if err := rpc.Unmarshal(out, ret); err != nil {
		return fmt.Errorf("decode procedure %d: %w", proc, err)
	}
	return nil
}
