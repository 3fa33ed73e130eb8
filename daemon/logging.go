package daemon

import (
	"io"
	"log/slog"

	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/config"
)

// newLogger returns the daemon's logger: text lines on w at the level of log_level, or debug with -v.
// logr's V(1) is slog's debug level.
func newLogger(w io.Writer, level int, verbose bool) (logr.Logger, *slog.LevelVar) {
	lv := &slog.LevelVar{}
	lv.Set(slogLevel(level, verbose))
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})
	return logr.FromSlogHandler(h), lv
}

func slogLevel(level int, verbose bool) slog.Level {
	if verbose {
		return slog.LevelDebug
	}
	switch level {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarning:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
