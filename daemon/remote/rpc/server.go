package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Options are a server's limits, named after the virtxend.conf keys they come from.
type Options struct {
	// Name names the server in logs and in the admin API ("virtxend", "admin").
	Name string
	// MaxClients bounds the concurrent clients (max_clients); a connection beyond it is closed at once.
	// Default 5000.
	MaxClients int
	// MaxClientRequests bounds the calls in flight per client (max_client_requests); beyond it the client is
	// not read until a reply is written. Default 5.
	MaxClientRequests int
	// KeepaliveInterval is how long a client may stay silent before the server pings it (keepalive_interval);
	// negative disables server pings. Default 5s.
	KeepaliveInterval time.Duration
	// KeepaliveCount is how many unanswered pings drop a client (keepalive_count). Default 5; a negative value
	// stands for libvirt's keepalive_count = 0: drop a client silent for one interval without pinging it.
	KeepaliveCount int
	// MaxQueuedEventBytes bounds the events queued for a client that does not read them; past it the client
	// is dropped rather than slowing event delivery to others. Default 8 MiB.
	MaxQueuedEventBytes int
}

// Default limits, libvirt's.
const (
	DefaultMaxClients          = 5000            // max_clients
	DefaultMaxClientRequests   = 5               // max_client_requests
	DefaultKeepaliveInterval   = 5 * time.Second // keepalive_interval
	DefaultKeepaliveCount      = 5               // keepalive_count
	DefaultMaxQueuedEventBytes = 8 << 20         // virtxend's own bound
)

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "virtxend"
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.MaxClientRequests <= 0 {
		o.MaxClientRequests = DefaultMaxClientRequests
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = DefaultKeepaliveInterval
	}
	switch {
	case o.KeepaliveCount == 0:
		o.KeepaliveCount = DefaultKeepaliveCount
	case o.KeepaliveCount < 0:
		o.KeepaliveCount = 0
	}
	if o.MaxQueuedEventBytes <= 0 {
		o.MaxQueuedEventBytes = DefaultMaxQueuedEventBytes
	}
	return o
}

// ListenerOpts describe one listening socket of a server.
type ListenerOpts struct {
	// ReadOnly makes every client of the socket read-only (virtxend-sock-ro).
	ReadOnly bool
}

type programKey struct{ id, version uint32 }

// Server is one libvirt RPC server (a virNetServer): programs served on any number of listening sockets, with
// shared client limits. virtxend runs two: "virtxend" (REMOTE on the read-write and read-only sockets) and
// "admin" (ADMIN on the admin socket).
type Server struct {
	opts       Options
	programs   map[programKey]*Program
	maxClients atomic.Int64

	mu        sync.Mutex
	clients   map[uint64]*Client
	listeners map[net.Listener]struct{}
	accepted  int // connections accepted by Serve and not yet finished, which MaxClients bounds
	closed    bool
	wg        sync.WaitGroup // goroutines started by Serve
}

// NewServer returns a server for programs with the given limits; zero values take libvirt's defaults.
func NewServer(opts Options, programs ...*Program) *Server {
	s := &Server{
		opts:      opts.withDefaults(),
		programs:  make(map[programKey]*Program, len(programs)),
		clients:   make(map[uint64]*Client),
		listeners: make(map[net.Listener]struct{}),
	}
	s.maxClients.Store(int64(s.opts.MaxClients))
	for _, p := range programs {
		s.programs[programKey{p.id, p.version}] = p
	}
	return s
}

// Name returns the server's name.
func (s *Server) Name() string { return s.opts.Name }

// Options returns the server's limits.
func (s *Server) Options() Options {
	o := s.opts
	o.MaxClients = int(s.maxClients.Load())
	return o
}

// MaxClients returns the current client limit.
func (s *Server) MaxClients() int { return int(s.maxClients.Load()) }

// SetMaxClients changes the client limit (virt-admin srv-clients-set); clients already connected stay.
func (s *Server) SetMaxClients(n int) error {
	if n <= 0 {
		return fmt.Errorf("max clients %d: must be positive", n)
	}
	s.maxClients.Store(int64(n))
	return nil
}

func (s *Server) program(id, version uint32) *Program {
	return s.programs[programKey{id, version}]
}

// Serve accepts connections on l until ctx is cancelled, l fails, or the server is closed. Each connection is
// served by its own goroutines; cancelling ctx also disconnects the clients accepted here. The logger comes from
// ctx (logr.FromContext).
func (s *Server) Serve(ctx context.Context, l net.Listener, opts ListenerOpts) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()

	log := logr.FromContextOrDiscard(ctx).WithValues("server", s.opts.Name, "listener", l.Addr().String())
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept on %s: %w", l.Addr(), err)
		}
		backoff = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return nil
		}
		if n := s.accepted; n >= s.MaxClients() {
			s.mu.Unlock()
			log.Info("too many active clients, dropping a connection", "clients", n, "max", s.MaxClients())
			_ = nc.Close()
			continue
		}
		s.accepted++
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				s.accepted--
				s.mu.Unlock()
				s.wg.Done()
			}()
			s.ServeConn(ctx, nc, opts)
		}()
	}
}

// ServeConn serves one connection until it closes, then returns after the client's cleanup ran. It ignores
// MaxClients.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, opts ListenerOpts) {
	c := newClient(ctx, s, nc, opts.ReadOnly)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.clients[c.id] = c
	s.mu.Unlock()
	c.run()
	s.mu.Lock()
	delete(s.clients, c.id)
	s.mu.Unlock()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// NumClients returns the number of connected clients.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Clients returns the connected clients, by id.
func (s *Server) Clients() []*Client {
	s.mu.Lock()
	cs := make([]*Client, 0, len(s.clients))
	for _, c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	sortClients(cs)
	return cs
}

// Client returns the connected client with the given id, or nil.
func (s *Server) Client(id uint64) *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[id]
}

// Close stops every listener, disconnects every client and waits until their cleanup ran.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	clients := make([]*Client, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	s.wg.Wait()
	for _, c := range clients {
		<-c.onCloseFinished
	}
	return nil
}
