package admin

import (
	"sync"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// ServerConfig is what virtxend.conf says about one server's limits beyond those rpc.Server enforces.
type ServerConfig struct {
	// MinWorkers is min_workers (admin_min_workers for the admin server).
	MinWorkers int
	// MaxWorkers is max_workers (admin_max_workers).
	MaxWorkers int
	// PrioWorkers is prio_workers; libvirt's admin server has none.
	PrioWorkers int
	// MaxUnauthClients is max_anonymous_clients; libvirt's admin server has 0.
	MaxUnauthClients int
}

// ThreadPool is what virt-admin srv-threadpool-info reports.
//
// virtxend's workers are goroutines started per call: at most MaxWorkers serve calls at once (PrioWorkers more
// serve only high-priority ones) and further calls wait in arrival order, as in libvirt's pool. No idle worker
// is kept, so the live figures are the calls being served (nWorkers), no free workers, and the calls waiting
// (jobQueueDepth). MinWorkers is kept as configured (and as srv-threadpool-set changes it) for tools that read it.
type ThreadPool struct {
	// MinWorkers, MaxWorkers and PrioWorkers are the configured sizes.
	MinWorkers, MaxWorkers, PrioWorkers uint32
	// Workers (nWorkers), FreeWorkers and JobQueueDepth are live figures.
	Workers, FreeWorkers, JobQueueDepth uint32
}

// ClientLimits is what virt-admin srv-clients-info reports.
type ClientLimits struct {
	// Max is the client limit the server enforces (max_clients).
	Max uint32
	// Current is the number of connected clients.
	Current uint32
	// UnauthMax is max_anonymous_clients. Every virtxend socket uses REMOTE_AUTH_NONE, so no client ever waits
	// for authentication and the value is only stored and reported.
	UnauthMax uint32
	// UnauthCurrent is the number of clients waiting for authentication: always 0.
	UnauthCurrent uint32
}

// Server is one of the daemon's RPC servers as the admin API manages it: the rpc.Server, plus the per-server
// settings libvirt keeps that virtxend only reports and stores (thread pool sizes, the unauthenticated-client
// cap). Its methods are safe for concurrent use.
type Server struct {
	rpc *rpc.Server

	mu        sync.Mutex
	pool      ThreadPool
	maxUnauth uint32
}

// NewServer returns srv as the admin API sees it, with the limits of cfg.
func NewServer(srv *rpc.Server, cfg ServerConfig) *Server {
	s := &Server{rpc: srv}
	s.Reconfigure(cfg)
	return s
}

// Reconfigure replaces the stored limits with those of a re-read configuration.
func (s *Server) Reconfigure(cfg ServerConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pool = ThreadPool{MinWorkers: clampU32(cfg.MinWorkers), MaxWorkers: clampU32(cfg.MaxWorkers), PrioWorkers: clampU32(cfg.PrioWorkers)}
	s.maxUnauth = clampU32(cfg.MaxUnauthClients)
}

// Name returns the server's name ("virtxend", "admin").
func (s *Server) Name() string { return s.rpc.Name() }

// RPC returns the rpc.Server.
func (s *Server) RPC() *rpc.Server { return s.rpc }

// ThreadPool returns the thread pool figures.
func (s *Server) ThreadPool() ThreadPool {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.pool
	w := s.rpc.Workers()
	tp.Workers, tp.FreeWorkers, tp.JobQueueDepth = clampU32(w.Busy), 0, clampU32(w.Queued)
	return tp
}

// SetThreadPool changes the pool sizes; a negative value leaves that size alone. It applies libvirt's checks
// (virThreadPoolSetParameters): the minimum may not exceed the maximum, and the maximum may not switch between
// zero and non-zero.
func (s *Server) SetThreadPool(minWorkers, maxWorkers, prioWorkers int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	hi, lo := int64(s.pool.MaxWorkers), int64(s.pool.MinWorkers)
	if maxWorkers >= 0 {
		hi = maxWorkers
	}
	if minWorkers >= 0 {
		lo = minWorkers
	}
	if lo > hi {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "minWorkers cannot be larger than maxWorkers")
	}
	if (maxWorkers == 0 && s.pool.MaxWorkers > 0) || (maxWorkers > 0 && s.pool.MaxWorkers == 0) {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "maxWorkers must not be switched from zero to non-zero and vice versa")
	}
	if minWorkers >= 0 {
		s.pool.MinWorkers = uint32(minWorkers)
	}
	if maxWorkers >= 0 {
		s.pool.MaxWorkers = uint32(maxWorkers)
	}
	if prioWorkers >= 0 {
		s.pool.PrioWorkers = uint32(prioWorkers)
	}
	// libvirt's max_workers = 0 serves calls one at a time in its event loop: one worker here.
	s.rpc.SetWorkers(max(int(s.pool.MaxWorkers), 1), int(s.pool.PrioWorkers))
	return nil
}

// ClientLimits returns the client limits and counts.
func (s *Server) ClientLimits() ClientLimits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ClientLimits{
		Max:       clampU32(s.rpc.MaxClients()),
		Current:   clampU32(s.rpc.NumClients()),
		UnauthMax: s.maxUnauth,
	}
}

// SetClientLimits changes the client limit (enforced at once for new connections: clients already connected
// stay) and the stored unauthenticated-client cap; a negative value leaves that limit alone. As libvirt's
// virNetServerSetClientLimits, it refuses an overall limit below the unauthenticated one.
func (s *Server) SetClientLimits(maxClients, maxUnauth int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	hi, unauth := int64(s.rpc.MaxClients()), int64(s.maxUnauth)
	if maxClients >= 0 {
		hi = maxClients
	}
	if maxUnauth >= 0 {
		unauth = maxUnauth
	}
	if hi < unauth {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainRPC,
			"The overall maximum number of clients must not be less than the number of clients waiting for authentication")
	}
	if maxClients >= 0 {
		if err := s.rpc.SetMaxClients(int(maxClients)); err != nil {
			// libvirt takes 0 and then refuses every new client for good, the admin socket included.
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainRPC, "%s must be at least 1", ParamClientsMax)
		}
	}
	if maxUnauth >= 0 {
		s.maxUnauth = uint32(maxUnauth)
	}
	return nil
}

func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > uint64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(n)
}
