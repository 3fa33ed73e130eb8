package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	// Registry holds the daemon's own collectors; /metrics serves it with controller-runtime's registry.
	Registry *prometheus.Registry
	// Ready reports whether the daemon is ready (the first full observation done); /readyz answers 503 before.
	Ready func() bool
	// Log receives serving errors.
	Log logr.Logger
}

// NewServer returns a Server with an empty registry of its own.
func NewServer(ready func() bool, log logr.Logger) *Server {
	return &Server{Registry: prometheus.NewRegistry(), Ready: ready, Log: log}
}

// Register adds the daemon's collectors to the endpoint's own registry.
func (s *Server) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.Registry.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// Handler returns the endpoint's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	g := prometheus.Gatherers{crmetrics.Registry, s.Registry}
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		ErrorLog: errorLog{s.Log}}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.Ready != nil && !s.Ready() {
			http.Error(w, "not ready: the hypervisor is not fully observed yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Listen opens the endpoint's listener: "unix:/path" for a Unix socket (a stale socket file is replaced),
// anything else a TCP address such as "127.0.0.1:9177".
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(path)
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("metrics_listen %q: %w", addr, err)
		}
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %q: %w", addr, err)
	}
	return l, nil
}

// Serve serves the endpoint on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", l.Addr(), err)
	}
	return nil
}

// errorLog passes promhttp's errors (a collector that failed) to the daemon's log.
type errorLog struct{ log logr.Logger }

func (e errorLog) Println(v ...any) { e.log.Info("metrics: " + strings.TrimSpace(fmt.Sprintln(v...))) }
