package secondary

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// DefaultSocketDir is where libvirt's remote driver looks for the system daemons' sockets
// (LOCALSTATEDIR/run/libvirt), and so the directory its errors name.
const DefaultSocketDir = "/var/run/libvirt"

// Options configure a Forwarder.
type Options struct {
	// SocketDir holds the sockets of the daemons serving the secondary drivers; DefaultSocketDir when empty.
	SocketDir string
	// Log receives one line per secondary connection opened or lost, and the events that cannot be relayed.
	Log logr.Logger
	// ProcRoot is where the process table is mounted (/proc when empty), read for the identity of a client.
	ProcRoot string
}

// Forwarder forwards the secondary drivers' procedures of each client to the host's libvirt daemons.
type Forwarder struct {
	dir      string
	procRoot string
	log      logr.Logger

	mu sync.Mutex // creating a client's session
}

// New returns a Forwarder with opts.
func New(opts Options) *Forwarder {
	f := &Forwarder{dir: opts.SocketDir, procRoot: opts.ProcRoot, log: opts.Log}
	if f.dir == "" {
		f.dir = DefaultSocketDir
	}
	if f.procRoot == "" {
		f.procRoot = "/proc"
	}
	if f.log.GetSink() == nil {
		f.log = logr.Discard()
	}
	return f
}

// Register registers a forwarding handler for every secondary procedure of the REMOTE program p, replacing any
// handler registered before, and CONNECT_SET_IDENTITY. The table's read-only flags stay in force: a read-only
// client's change is refused here, before anything is forwarded, with the error libvirt's public API raises on
// the read-only secondary connection of libvirt's virtxend (whose secondary connections are read-only too).
func (f *Forwarder) Register(p *rpc.Program) {
	for d, procs := range Procedures() {
		for _, info := range procs {
			p.Handle(info.Number, f.forward(d))
		}
	}
	rpc.Register(p, rpc.ProcConnectSetIdentity, f.setIdentity)
}

// forward is the handler of the procedures of driver d.
func (f *Forwarder) forward(d Driver) rpc.Handler {
	return func(ctx context.Context, call *rpc.Call, body []byte) ([]byte, error) {
		s := f.session(call.Client)
		u, err := s.conn(ctx, d)
		if err != nil {
			return nil, err
		}
		if streamed(call.Header.Procedure) {
			return f.forwardStream(ctx, call, u, body, &s.streams)
		}
		return u.call(ctx, call.Header.Procedure, body)
	}
}

// sessionKey is the per-connection key of a client's session.
type sessionKey struct{}

// session is one client's secondary connections, opened on first use and closed with the client.
type session struct {
	f      *Forwarder
	client *rpc.Client

	mu    [numDrivers]sync.Mutex // held while the driver's connection is opened
	conns [numDrivers]*upstream
	// streams counts the bridged streams still running: the rpc layer confirms a client's finish of an upload
	// before the daemon has all the data, so the connections stay open until the bridges are done.
	streams sync.WaitGroup
}

// session returns the client's session, creating it on the client's first secondary call.
func (f *Forwarder) session(c *rpc.Client) *session {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := c.Value(sessionKey{}).(*session); ok {
		return s
	}
	s := &session{f: f, client: c}
	c.SetValue(sessionKey{}, s)
	c.OnClose(s.close)
	return s
}

// close closes the client's secondary connections, once its streams are through (for at most finishWait).
func (s *session) close() {
	drained := make(chan struct{})
	go func() { s.streams.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(finishWait):
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	for d := range s.conns {
		s.mu[d].Lock()
		if u := s.conns[d]; u != nil {
			u.closeGracefully(ctx)
			s.conns[d] = nil
		}
		s.mu[d].Unlock()
	}
}

// closeWait bounds how long closing a client's secondary connections waits for the daemons' answers.
const closeWait = 2 * time.Second

// conn returns the client's connection for driver d, opening it when the client has none or the one it had
// broke. A failed open is not remembered: the next call tries again, as libvirt's remoteOpenConn does.
func (s *session) conn(ctx context.Context, d Driver) (*upstream, error) {
	s.mu[d].Lock()
	defer s.mu[d].Unlock()
	if u := s.conns[d]; u != nil && u.alive() {
		return u, nil
	}
	select {
	case <-s.client.Done():
		return nil, rpc.ErrClientClosed
	default:
	}
	u, err := s.f.open(ctx, d, s.client)
	if err != nil {
		return nil, err
	}
	s.conns[d] = u
	return u, nil
}

// sockets are the sockets tried for driver d, in order: the driver's own daemon, then the monolithic libvirtd,
// read-only sockets first for a read-only client (a read-write socket opened read-only serves it as well).
func (f *Forwarder) sockets(d Driver, readOnly bool) []string {
	var names []string
	if readOnly {
		names = append(names, d.socketName(true), legacySocketName(true))
	}
	names = append(names, d.socketName(false), legacySocketName(false))
	for i, n := range names {
		names[i] = filepath.Join(f.dir, n)
	}
	return names
}

// dial connects to the first socket of driver d that exists. With none, the error names the first one, which is
// what libvirt's remote driver reports from inside a modular daemon (it looks for that socket only).
func (f *Forwarder) dial(ctx context.Context, d Driver, readOnly bool, onEvent func(rpc.Header, []byte)) (*upstream, error) {
	paths := f.sockets(d, readOnly)
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return dialUpstream(ctx, p, onEvent)
		}
	}
	_, err := os.Stat(paths[0])
	return nil, connectError(paths[0], err)
}

// open opens driver d's connection for client c: remoteOpenConn with the client's read-only flag and identity.
func (f *Forwarder) open(ctx context.Context, d Driver, c *rpc.Client) (*upstream, error) {
	readOnly := c.ReadOnly()
	u, err := f.dial(ctx, d, readOnly, func(h rpc.Header, body []byte) { f.relayEvent(c, d, h, body) })
	if err != nil {
		return nil, err
	}
	uri := d.URI(u.privileged)
	if err := handshake(ctx, u, uri, readOnly, identityOf(c, f.procRoot)); err != nil {
		u.Close()
		return nil, err
	}
	f.log.V(1).Info("opened secondary driver connection", "client", c.ID(), "driver", d.String(), "socket", u.path,
		"uri", uri, "readOnly", readOnly)
	go func() {
		<-u.done
		if err := u.err; !errors.Is(err, errUpstreamClosed) {
			f.log.Info("secondary driver connection lost", "client", c.ID(), "driver", d.String(), "socket", u.path,
				"err", err.Error())
		}
	}()
	return u, nil
}

// Authentication schemes of remote_auth_type.
const (
	authNone   libvirt.AuthType = 0
	authPolkit libvirt.AuthType = 2
)

// handshake is what libvirt's remote driver does on a new connection: authenticate (only the schemes a local
// root client passes without a conversation), open the driver's URI, and pass the caller's identity on.
func handshake(ctx context.Context, u *upstream, uri string, readOnly bool, identity []libvirt.TypedParam) error {
	var auth libvirt.AuthListRet
	if err := u.callXDR(ctx, rpc.ProcAuthList, &struct{}{}, &auth); err != nil {
		return err
	}
	switch {
	case len(auth.Types) == 0 || slices.Contains(auth.Types, authNone):
	case slices.Contains(auth.Types, authPolkit):
		if err := u.callXDR(ctx, rpc.ProcAuthPolkit, &struct{}{}, &libvirt.AuthPolkitRet{}); err != nil {
			return err
		}
	default:
		return rpc.Errorf(rpc.CodeAuthFailed, rpc.DomainRPC, "unsupported authentication type %d", auth.Types[0])
	}
	var flags libvirt.ConnectFlags
	if readOnly {
		flags |= libvirt.ConnectRo
	}
	if err := u.callXDR(ctx, rpc.ProcConnectOpen, &rpc.ConnectOpenArgs{Name: libvirt.OptString{uri}, Flags: flags}, nil); err != nil {
		return err
	}
	if identity == nil {
		return nil
	}
	return u.callXDR(ctx, rpc.ProcConnectSetIdentity, &libvirt.ConnectSetIdentityArgs{Params: identity}, nil)
}

// relayEvent passes an event message of driver d's daemon on to the client.
func (f *Forwarder) relayEvent(c *rpc.Client, d Driver, h rpc.Header, body []byte) {
	if h.Program != rpc.ProgramRemote {
		return
	}
	msg := newEventMsg(h.Procedure)
	if msg == nil {
		f.log.V(1).Info("not relaying an unknown event message", "client", c.ID(), "driver", d.String(), "proc", h.Procedure)
		return
	}
	if err := rpc.Unmarshal(body, msg); err != nil {
		f.log.V(1).Info("not relaying an undecodable event message", "client", c.ID(), "driver", d.String(),
			"proc", h.Procedure, "err", err.Error())
		return
	}
	if err := c.SendEvent(rpc.ProgramRemote, h.Procedure, msg); err != nil {
		f.log.V(1).Info("event not sent", "client", c.ID(), "proc", h.Procedure, "err", fmt.Sprint(err))
	}
}
