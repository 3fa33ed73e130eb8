package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/config"
)

// rootSource is the source name log_filters match for the root logger, which has no name.
const rootSource = "daemon"

// logrSink is LogControl's logr.LogSink.
type logrSink struct {
	c      *LogControl
	name   string // the dotted WithName path
	values []any
	cache  *atomic.Uint64 // generation<<8 | the source's minimum priority; shared by the sinks of one name
}

// Init implements logr.LogSink.
func (s *logrSink) Init(logr.RuntimeInfo) {}

// Enabled implements logr.LogSink: a message is worth formatting when its source lets it through and some
// output takes it.
func (s *logrSink) Enabled(level int) bool {
	st := s.c.state.Load()
	p := vPriority(level)
	return p >= st.minOutput && p >= s.threshold(st)
}

// Info implements logr.LogSink.
func (s *logrSink) Info(level int, msg string, kv ...any) {
	s.c.write(s, vPriority(level), nil, msg, kv)
}

// Error implements logr.LogSink.
func (s *logrSink) Error(err error, msg string, kv ...any) {
	s.c.write(s, config.LogError, err, msg, kv)
}

// WithValues implements logr.LogSink.
func (s *logrSink) WithValues(kv ...any) logr.LogSink {
	n := *s
	n.values = append(s.values[:len(s.values):len(s.values)], kv...)
	return &n
}

// WithName implements logr.LogSink.
func (s *logrSink) WithName(name string) logr.LogSink {
	n := *s
	if s.name != "" {
		name = s.name + "." + name
	}
	n.name, n.cache = name, new(atomic.Uint64)
	return &n
}

func (s *logrSink) source() string {
	if s.name == "" {
		return rootSource
	}
	return s.name
}

// threshold is the minimum priority of the sink's source under st, cached until the state changes.
func (s *logrSink) threshold(st *logState) int {
	if v := s.cache.Load(); v>>8 == st.gen {
		return int(v & 0xff)
	}
	p := st.level
	src := s.source()
	for _, f := range st.filters {
		if globMatch("*"+f.Match+"*", src) {
			p = f.Level
			break
		}
	}
	if st.verbose {
		p = min(p, config.LogInfo)
	}
	s.cache.Store(st.gen<<8 | uint64(p))
	return p
}

// vPriority is the libvirt priority of a logr V-level.
func vPriority(v int) int {
	if v > 0 {
		return config.LogDebug
	}
	return config.LogInfo
}

// write sends one message to the outputs that take it.
func (c *LogControl) write(s *logrSink, p int, err error, msg string, kv []any) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := c.state.Load()
	if p < st.minOutput || p < s.threshold(st) {
		return
	}
	r := slog.NewRecord(time.Now(), priorityLevel(p), msg, 0)
	if s.name != "" {
		r.AddAttrs(slog.String("logger", s.name))
	}
	r.Add(s.values...)
	r.Add(kv...)
	if err != nil {
		r.AddAttrs(slog.String("err", err.Error()))
	}
	for _, o := range st.outputs {
		if p >= o.Level || (st.verbose && p >= config.LogInfo) {
			o.write(r, s.source(), p)
		}
	}
}

// logOutput is one open output.
type logOutput struct {
	config.LogOutput // Arg is absolute for files

	text slog.Handler // stderr and file: slog's text lines
	file *os.File
	sys  *syslog.Writer
	send func(msg string, p journal.Priority, vars map[string]string) error
}

// String returns the output as log_outputs writes it.
func (o *logOutput) String() string {
	if o.Arg != "" {
		return fmt.Sprintf("%d:%s:%s", o.Level, o.Dest, o.Arg)
	}
	return fmt.Sprintf("%d:%s", o.Level, o.Dest)
}

func (o *logOutput) write(r slog.Record, source string, p int) {
	switch o.Dest {
	case config.LogToStderr, config.LogToFile:
		_ = o.text.Handle(context.Background(), r)
	case config.LogToJournald:
		_ = o.send(plainMessage(r), journalPriority(p), journalFields(r, source))
	case config.LogToSyslog:
		m := plainMessage(r)
		switch p {
		case config.LogDebug:
			_ = o.sys.Debug(m)
		case config.LogInfo:
			_ = o.sys.Info(m)
		case config.LogWarning:
			_ = o.sys.Warning(m)
		default:
			_ = o.sys.Err(m)
		}
	}
}

func textHandler(w *syncWriter) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.Level(-100)}) // LogControl filters
}

// openOutputs opens the outputs of specs, reusing the files and syslog connections of prev; on error it closes
// what it opened.
func (c *LogControl) openOutputs(specs []config.LogOutput, prev []*logOutput) (outs []*logOutput, err error) {
	var opened []*logOutput
	defer func() {
		if err != nil {
			_ = closeOutputs(opened, nil)
		}
	}()
	find := func(dest, arg string) *logOutput {
		for _, list := range [][]*logOutput{outs, prev} {
			for _, o := range list {
				if o.Dest == dest && o.Arg == arg {
					return o
				}
			}
		}
		return nil
	}
	for _, spec := range specs {
		o := &logOutput{LogOutput: spec}
		switch spec.Dest {
		case config.LogToStderr:
			o.text = textHandler(c.stderr)
		case config.LogToFile:
			if o.Arg, err = filepath.Abs(spec.Arg); err != nil {
				return nil, err
			}
			if old := find(config.LogToFile, o.Arg); old != nil {
				o.file, o.text = old.file, old.text
				break
			}
			if o.file, err = os.OpenFile(o.Arg, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
				return nil, err
			}
			o.text = textHandler(&syncWriter{w: o.file})
			opened = append(opened, o)
		case config.LogToJournald:
			o.send = c.journalSend
		case config.LogToSyslog:
			if old := find(config.LogToSyslog, o.Arg); old != nil {
				o.sys = old.sys
				break
			}
			if o.sys, err = syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, o.Arg); err != nil {
				return nil, fmt.Errorf("syslog: %w", err)
			}
			opened = append(opened, o)
		default:
			return nil, fmt.Errorf("unknown log destination %q", spec.Dest)
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// closeOutputs closes the files and syslog connections of old that keep does not use.
func closeOutputs(old, keep []*logOutput) error {
	done := map[any]bool{}
	for _, o := range keep {
		if o.file != nil {
			done[o.file] = true
		}
		if o.sys != nil {
			done[o.sys] = true
		}
	}
	var errs []error
	for _, o := range old {
		if o.file != nil && !done[o.file] {
			done[o.file] = true
			errs = append(errs, o.file.Close())
		}
		if o.sys != nil && !done[o.sys] {
			done[o.sys] = true
			errs = append(errs, o.sys.Close())
		}
	}
	return errors.Join(errs...)
}

// plainMessage is the text journald and syslog get: the message, then the attributes as the text lines have
// them (time and level travel as fields of their own).
func plainMessage(r slog.Record) string {
	var b bytes.Buffer
	h := slog.NewTextHandler(&b, &slog.HandlerOptions{
		Level: slog.Level(-100),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	_ = h.Handle(context.Background(), r)
	attrs := strings.TrimSuffix(b.String(), "\n")
	if attrs == "" {
		return r.Message
	}
	return r.Message + " " + attrs
}

// journalFields are the journal fields of a record besides MESSAGE and PRIORITY: libvirt's, then one per
// attribute ("domain" becomes DOMAIN), so that journalctl can select on them.
func journalFields(r slog.Record, source string) map[string]string {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "virtxend", "SYSLOG_FACILITY": "3", "LIBVIRT_SOURCE": source}
	r.Attrs(func(a slog.Attr) bool {
		k := journalField(a.Key)
		if _, taken := vars[k]; k != "" && !taken && k != "MESSAGE" && k != "MESSAGE_ID" && k != "PRIORITY" &&
			!strings.HasPrefix(k, "CODE_") && !strings.HasPrefix(k, "SYSLOG_") {
			vars[k] = a.Value.Resolve().String()
		}
		return true
	})
	return vars
}

// journalField turns an attribute key into a journal field name: upper-case letters, digits and '_', not
// starting with '_' (trusted fields) or a digit; "" when nothing is left.
func journalField(key string) string {
	b := []byte(strings.ToUpper(key))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return strings.TrimLeft(string(b), "_0123456789")
}

func journalPriority(p int) journal.Priority {
	switch p {
	case config.LogDebug:
		return journal.PriDebug
	case config.LogInfo:
		return journal.PriInfo
	case config.LogWarning:
		return journal.PriWarning
	}
	return journal.PriErr
}

// globMatch is GLib's g_pattern_match_simple, which libvirt matches filters with: '*' matches any run of
// characters, '?' any one.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; {
			case c == '*':
				starPx, starSx = px, sx+1
				px++
				continue
			case sx < len(s) && (c == '?' || c == s[sx]):
				px++
				sx++
				continue
			}
		}
		if starPx >= 0 && starSx <= len(s) {
			px, sx = starPx+1, starSx
			starSx++
			continue
		}
		return false
	}
	return true
}
