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
	// MaxWorkers bounds the calls served at once over all clients (max_workers); beyond it calls wait, in
	// arrival order, for one to finish. Procedures registered Inline do not count. Default 20; negative means no
	// bound.
	MaxWorkers int
	// PrioWorkers are extra workers that serve only libvirt's high-priority procedures (prio_workers), so that
	// destroy and friends are served while every worker is busy. Default 5; negative means none.
	PrioWorkers int
	// MaxClientMemory is virtxend's per-connection memory budget, which libvirt lacks: the bytes of the calls
	// being served plus the packets queued for the client (replies, keepalive PONGs, events, stream data). While a
	// connection holds more, its input is not read, so a client that does not read what it is sent cannot make
	// the daemon queue more. A single packet is always admitted, so a maximum-size call works. Default 4 MiB.
	MaxClientMemory int
	// ReturnMemory gives the memory freed by departed clients back to the operating system soon after a
	// connection that held a lot (a maximum-size call, a full budget) or the last connection closed, rather than
	// when Go's background scavenger gets to it, which on an idle daemon can take minutes. It forces a garbage
	// collection, at most once every returnMemoryInterval; for the daemon, not for a library user.
	ReturnMemory bool
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
	DefaultMaxWorkers          = 20              // max_workers
	DefaultPrioWorkers         = 5               // prio_workers
	DefaultMaxClientMemory     = 4 << 20         // virtxend's own bound
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
	if o.MaxWorkers == 0 {
		o.MaxWorkers = DefaultMaxWorkers
	}
	switch {
	case o.PrioWorkers == 0:
		o.PrioWorkers = DefaultPrioWorkers
	case o.PrioWorkers < 0:
		o.PrioWorkers = 0
	}
	if o.MaxClientMemory <= 0 {
		o.MaxClientMemory = DefaultMaxClientMemory
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
	workers    *workerPool
	// callObserver hears of every answered call (metrics); nil when none is set.
	callObserver atomic.Pointer[func(procedure string, code int, elapsed time.Duration)]

	memory memoryReturner

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
	s.workers = newWorkerPool(s.opts.MaxWorkers, s.opts.PrioWorkers)
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
	w := s.workers.stats()
	o.MaxWorkers, o.PrioWorkers = w.Max, w.Prio
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

// SetWorkers changes the worker limits (virt-admin srv-threadpool-set, a reload); calls being served finish.
// A negative maxWorkers means no bound.
func (s *Server) SetWorkers(maxWorkers, prioWorkers int) {
	s.workers.setLimits(maxWorkers, max(prioWorkers, 0))
}

// SetCallObserver makes fn hear of every call the server answers: the procedure's name (REMOTE_PROC_...), the
// libvirt error code of the answer (0 for success) and the time from reading the call to queueing its reply. fn
// runs on the call's goroutine and must not block.
func (s *Server) SetCallObserver(fn func(procedure string, code int, elapsed time.Duration)) {
	if fn == nil {
		s.callObserver.Store(nil)
		return
	}
	s.callObserver.Store(&fn)
}

// Workers returns the worker limits and how many calls the workers serve now.
func (s *Server) Workers() WorkerStats { return s.workers.stats() }

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
	last := len(s.clients) == 0
	s.mu.Unlock()
	if _, peak := c.out.usage(); s.opts.ReturnMemory && (last || peak >= largeClient) {
		s.memory.schedule()
	}
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
	s.memory.stop()
	return nil
}
