//go:build xenlight

package daemon

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/config"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/xenlight"
)

// With the xenlight tag, the daemon can drive real Xen through libxenlight.
func init() {
	openXen = func(cfg *config.Daemon, lx *config.Libxl) (libxl.Hypervisor, error) {
		log := xenlightBootLogger(cfg.LogLevel)
		hv, err := xenlight.New(xenlight.Options{Log: log, Autoballoon: lx.AutoballoonFor})
		if err != nil {
			return nil, fmt.Errorf("open the xen host: %w", err)
		}
		log.V(1).Info("libxenlight opened", "autoballoon", hv.Autoballoon())
		return hv, nil
	}
}

// xenlightBootLogger logs libxl's messages to stderr at log_level (1 debug ... 4 error) until the daemon hands
// the adapter its own logger with SetLogger: openXen is not given one.
func xenlightBootLogger(level int) logr.Logger {
	l := slog.LevelWarn // 3, the default: errors only, as logr has no warnings
	switch level {
	case config.LogDebug:
		l = slog.LevelDebug
	case config.LogInfo:
		l = slog.LevelInfo
	case config.LogError:
		l = slog.LevelError
	}
	return logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})).WithName("libxl")
}
