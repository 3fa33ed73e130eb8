package rpc

import (
	"context"
	"errors"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Transport is how a client is connected (virClientTransport of the admin API).
type Transport int32

// Transports.
const (
	// TransportUnix is a local Unix socket.
	TransportUnix Transport = 0
	// TransportTCP is a plain TCP connection.
	TransportTCP Transport = 1
	// TransportTLS is a TLS connection.
	TransportTLS Transport = 2
)

// PeerCred is what the kernel says about the process at the other end of a Unix socket (SO_PEERCRED).
type PeerCred struct {
	// PID is the peer's process id.
	PID int32
	// UID is the peer's user id.
	UID uint32
	// GID is the peer's group id.
	GID uint32
}

// ClientInfo is what the admin API reports about a client (virt-admin client-list, client-info).
type ClientInfo struct {
	// ID identifies the client within the daemon.
	ID uint64
	// Server names the server the client is connected to.
	Server string
	// Connected is when the connection was accepted.
	Connected time.Time
	// Transport is how the client is connected.
	Transport Transport
	// ReadOnly reports a read-only connection.
	ReadOnly bool
	// LocalAddr is the socket the client connected to.
	LocalAddr string
	// RemoteAddr is the client's address, empty for an unnamed Unix socket.
	RemoteAddr string
	// Peer holds the peer's credentials on a Unix socket, nil when unknown.
	Peer *PeerCred
}

// Client is one connection to a Server. Its methods are safe for concurrent use.
type Client struct {
	srv       *Server
	id        uint64
	nc        net.Conn
	connected time.Time
	transport Transport
	peer      *PeerCred
	log       logr.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	out    *outQueue
	slots  chan struct{}
	// releaseSlot gives back a request slot once a reply is written (made once: a reply needs no closure).
	releaseSlot func()
	// inline is the record of the call being served on the reading goroutine (Inline procedures).
	inline Call

	readOnly        atomic.Bool
	opened          atomic.Bool
	closeCallback   atomic.Bool
	lastRecv        atomic.Int64 // unix nanoseconds
	keepaliveOn     atomic.Bool
	throttled       atomic.Bool // the client was once held back for its memory budget (logged once)
	inflight        sync.WaitGroup
	writerDone      chan struct{}
	closeOnce       sync.Once
	closed          chan struct{}
	onCloseFinished chan struct{}

	mu        sync.Mutex
	values    map[any]any
	onClose   []func()
	cleanedUp bool // onClose was collected: later registrations run at once
	streams   map[streamKey]*Stream
}

var nextClientID atomic.Uint64

func newClient(ctx context.Context, srv *Server, nc net.Conn, readOnly bool) *Client {
	c := &Client{
		srv:             srv,
		id:              nextClientID.Add(1),
		nc:              nc,
		connected:       time.Now(),
		transport:       transportOf(nc),
		peer:            peerCred(nc),
		slots:           make(chan struct{}, srv.opts.MaxClientRequests),
		writerDone:      make(chan struct{}),
		closed:          make(chan struct{}),
		onCloseFinished: make(chan struct{}),
		values:          make(map[any]any),
		streams:         make(map[streamKey]*Stream),
	}
	c.out = newOutQueue(srv.opts.MaxQueuedEventBytes, nc, func(err error) { c.closeWith(err) })
	c.releaseSlot = func() { <-c.slots }
	c.readOnly.Store(readOnly)
	c.lastRecv.Store(time.Now().UnixNano())
	c.log = logr.FromContextOrDiscard(ctx).WithValues("server", srv.opts.Name, "client", c.id)
	c.ctx, c.cancel = context.WithCancelCause(logr.NewContext(ctx, c.log))
	return c
}

func transportOf(nc net.Conn) Transport {
	if _, ok := nc.(*net.TCPConn); ok {
		return TransportTCP
	}
	return TransportUnix
}

// ID returns the client's id, unique within the process.
func (c *Client) ID() uint64 { return c.id }

// Server returns the server the client is connected to.
func (c *Client) Server() *Server { return c.srv }

// Context returns a context that is cancelled when the connection closes; it carries the client's logger.
func (c *Client) Context() context.Context { return c.ctx }

// ReadOnly reports whether mutating procedures are refused on this connection.
func (c *Client) ReadOnly() bool { return c.readOnly.Load() }

// SetReadOnly makes the connection read-only for good (CONNECT_OPEN with VIR_CONNECT_RO).
func (c *Client) SetReadOnly() { c.readOnly.Store(true) }

// Opened reports whether the connection was opened (see ProgramConfig.RequireOpen).
func (c *Client) Opened() bool { return c.opened.Load() }

// SetOpened records that CONNECT_OPEN succeeded (or, with false, that the connection is no longer open).
func (c *Client) SetOpened(open bool) { c.opened.Store(open) }

// CloseCallbackRegistered reports whether the client registered a connection close callback
// (CONNECT_REGISTER_CLOSE_CALLBACK), so that a CONNECT_EVENT_CONNECTION_CLOSED message is expected before the
// daemon drops it.
func (c *Client) CloseCallbackRegistered() bool { return c.closeCallback.Load() }

// Info returns what the admin API reports about the client.
func (c *Client) Info() ClientInfo {
	info := ClientInfo{
		ID:        c.id,
		Server:    c.srv.opts.Name,
		Connected: c.connected,
		Transport: c.transport,
		ReadOnly:  c.ReadOnly(),
		Peer:      c.peer,
	}
	if a := c.nc.LocalAddr(); a != nil {
		info.LocalAddr = a.String()
	}
	if a := c.nc.RemoteAddr(); a != nil {
		info.RemoteAddr = a.String()
	}
	return info
}

// Value returns the per-connection value stored under key, or nil.
func (c *Client) Value(key any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[key]
}

// SetValue stores a per-connection value under key; a nil value deletes it.
func (c *Client) SetValue(key, value any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == nil {
		delete(c.values, key)
		return
	}
	c.values[key] = value
}

// OnClose registers fn to run once the connection is closed and every call in flight has returned. Functions
// run in reverse order of registration; fn runs at once (in a new goroutine) if the client is already gone.
func (c *Client) OnClose(fn func()) {
	c.mu.Lock()
	if c.cleanedUp {
		c.mu.Unlock()
		go fn()
		return
	}
	c.onClose = append(c.onClose, fn)
	c.mu.Unlock()
}

// Done returns a channel that is closed when the connection closes.
func (c *Client) Done() <-chan struct{} { return c.closed }

// Close disconnects the client (virt-admin client-disconnect). It does not wait for the cleanup to finish.
func (c *Client) Close() { c.closeWith(errors.New("closed by the daemon")) }

func (c *Client) closeWith(cause error) {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.cancel(cause)
		c.mu.Lock()
		close(c.closed)
		c.mu.Unlock()
		_ = c.nc.Close()
	})
	if first {
		// Outside the Once: dropping queued packets runs their done funcs, which may close the client again.
		c.out.close()
	}
}

// SendEvent sends an event message (type MESSAGE, serial 1, as libvirt sends them) for procedure proc of
// program prog, with msg XDR-encoded as its body. It never blocks: a client that lets MaxQueuedEventBytes of
// events pile up unread is disconnected, and the error says so.
func (c *Client) SendEvent(prog uint32, proc int32, msg any) error {
	pkt := make([]byte, HeaderSize, 128)
	pkt, err := AppendXDR(pkt, msg)
	if err != nil {
		return err
	}
	if len(pkt) > MaxPacketSize {
		return ErrFrame
	}
	putHeader(pkt, Header{Program: prog, Version: ProtocolVersion, Procedure: proc, Type: TypeMessage, Serial: 1})
	if err := c.out.push(outItem{buf: pkt, kind: pushEvent}); err != nil {
		if errors.Is(err, ErrSlowClient) {
			c.log.Info("dropping a client that does not read its events")
			c.closeWith(err)
		}
		return err
	}
	return nil
}

// run serves the connection until it closes, then cleans up.
func (c *Client) run() {
	go func() {
		defer close(c.writerDone)
		c.out.writeLoop()
	}()
	stop := context.AfterFunc(c.ctx, func() { c.closeWith(context.Cause(c.ctx)) }) // no goroutine per idle client
	defer stop()
	if c.peer != nil {
		c.log.Info("client connected", "readOnly", c.ReadOnly(),
			"pid", c.peer.PID, "uid", c.peer.UID, "gid", c.peer.GID)
	} else {
		c.log.Info("client connected", "readOnly", c.ReadOnly())
	}
	err := c.readLoop()
	c.closeWith(err)
	c.finish(err)
}

func (c *Client) finish(err error) {
	c.mu.Lock()
	streams := make([]*Stream, 0, len(c.streams))
	for _, st := range c.streams {
		streams = append(streams, st)
	}
	c.mu.Unlock()
	for _, st := range streams {
		st.end(ErrClientClosed, false)
	}
	c.inflight.Wait()
	<-c.writerDone
	c.mu.Lock()
	fns := c.onClose
	c.onClose = nil
	c.cleanedUp = true
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	close(c.onCloseFinished)
	c.log.V(1).Info("client disconnected", "reason", context.Cause(c.ctx).Error(), "readErr", errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sortClients orders clients by id, the order virt-admin lists them in.
func sortClients(cs []*Client) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
}
