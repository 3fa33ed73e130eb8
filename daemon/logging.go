package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/config"
)

// LogOptions are the daemon's log settings at start-up.
type LogOptions struct {
	// Level is log_level, 1 (debug) to 4 (error); 0 means 3 (warning).
	Level int
	// Filters is log_filters, "LEVEL:MATCH ..." (see config.ParseLogFilters).
	Filters string
	// Outputs is log_outputs, "LEVEL:DEST[:ARG] ..." (see config.ParseLogOutputs); empty means the default output.
	Outputs string
	// Verbose is -v: as for libvirt's daemons, every source and every output logs at least at info level.
	Verbose bool
	// Stderr is where "stderr" outputs write; nil means os.Stderr.
	Stderr io.Writer
	// Daemon is -d: the default output is journald, or a log file when journald is not running, not stderr.
	Daemon bool
}

// LogControl owns the daemon's logr backend and applies libvirt's three log settings to it, at start-up and at
// run time (virt-admin daemon-log-filters and daemon-log-outputs, SIGHUP); each change takes effect atomically.
//
// Priorities are libvirt's: 1 debug, 2 info, 3 warning, 4 error. A logr message has priority 2 (Info at V(0)),
// 1 (Info at V(1) and beyond) or 4 (Error). logr has no warning; log_level 3, libvirt's default, therefore lets
// errors only through.
//
// Sources: libvirt filters match source files ("libxl.libxl_driver", "rpc.netserver"); virtxend's are logger
// names, the dotted WithName path ("remote", "specdir", "defines", "observer", "reconciler", "autostart",
// "admin" ...). The root logger, which the protocol layer and controller-runtime use unless given a named
// one, is the source "daemon". A filter "LEVEL:MATCH" applies to the sources whose name contains MATCH,
// where MATCH may hold the glob characters '*' and '?' (libvirt matches "*MATCH*" with g_pattern_match_simple);
// the first filter that matches sets the source's minimum priority, and log_level sets it for the others.
//
// A message at or above its source's minimum then goes to every output whose own minimum it reaches:
// "stderr", "file:PATH" (appended, created 0600), "journald" (native protocol, with LIBVIRT_SOURCE,
// SYSLOG_IDENTIFIER=virtxend and one field per key: DOMAIN=...; with no journald running its messages are
// lost, as libvirt's are) or "syslog:IDENT". Without log_outputs, the default output takes log_level:
// journald when stderr is already connected to the journal (a systemd service) or, with -d, when journald runs;
// with -d and no journald, /var/log/libvirt/virtxend.log (root) or ~/.cache/libvirt/virtxend.log; stderr
// otherwise. libvirt decides between journald and stderr on whether stdin is a terminal; virtxend asks systemd's
// JOURNAL_STREAM instead, so that a foreground daemon whose stderr is captured keeps logging there.
//
// -v sets every source's minimum and every output's to 1 (debug); Filters and Outputs still report the
// settings as configured.
type LogControl struct {
	stderr          *syncWriter
	daemon          bool
	stderrIsJournal bool
	journalEnabled  func() bool
	journalSend     func(msg string, p journal.Priority, vars map[string]string) error

	setMu sync.Mutex    // serializes changes
	mu    sync.RWMutex  // read-held while a record is written, write-held while the outputs are swapped
	gen   atomic.Uint64 // the generation of the latest state
	state atomic.Pointer[logState]
}

// logState is one immutable configuration; a change builds a new one.
type logState struct {
	gen       uint64
	level     int
	verbose   bool
	filters   []config.LogFilter
	outputSet string // log_outputs as configured, "" for the default output
	outputs   []*logOutput
	minOutput int // the lowest minimum of any output, 5 when there is none
}

// NewLogControl returns a log control with the settings of o. It fails when a setting is malformed or a file
// output cannot be opened.
func NewLogControl(o LogOptions) (*LogControl, error) {
	w := o.Stderr
	if w == nil {
		w = os.Stderr
	}
	c := &LogControl{stderr: &syncWriter{w: w}, daemon: o.Daemon, journalEnabled: journalEnabled, journalSend: journalSend}
	if o.Stderr == nil {
		c.stderrIsJournal, _ = journal.StderrIsJournalStream()
	}
	level, err := logPriority(o.Level)
	if err != nil {
		return nil, err
	}
	filters, err := config.ParseLogFilters(o.Filters)
	if err != nil {
		return nil, fmt.Errorf("log_filters: %w", err)
	}
	next := &logState{level: level, verbose: o.Verbose, filters: filters, outputSet: o.Outputs}
	if err := c.install(next); err != nil {
		return nil, fmt.Errorf("log_outputs: %w", err)
	}
	return c, nil
}

// Logger returns the root logger; WithName gives the sources that log_filters match.
func (c *LogControl) Logger() logr.Logger {
	return logr.New(&logrSink{c: c, cache: new(atomic.Uint64)})
}

// Level returns log_level in force.
func (c *LogControl) Level() int { return c.state.Load().level }

// Filters returns the filters in force as log_filters writes them, space-separated, empty when there are none.
func (c *LogControl) Filters() string {
	st := c.state.Load()
	parts := make([]string, len(st.filters))
	for i, f := range st.filters {
		parts[i] = strconv.Itoa(f.Level) + ":" + f.Match
	}
	return strings.Join(parts, " ")
}

// Outputs returns the outputs in force as log_outputs writes them, the default output included, file paths
// made absolute.
func (c *LogControl) Outputs() string {
	st := c.state.Load()
	parts := make([]string, len(st.outputs))
	for i, o := range st.outputs {
		parts[i] = o.String()
	}
	return strings.Join(parts, " ")
}

// SetLevel changes log_level: the minimum priority of the sources no filter matches, and of the default output.
func (c *LogControl) SetLevel(level int) error {
	p, err := logPriority(level)
	if err != nil {
		return err
	}
	return c.change(func(st *logState) error { st.level = p; return nil })
}

// SetFilters replaces log_filters; an empty string removes every filter.
func (c *LogControl) SetFilters(filters string) error {
	fs, err := config.ParseLogFilters(filters)
	if err != nil {
		return err
	}
	return c.change(func(st *logState) error { st.filters = fs; return nil })
}

// SetOutputs replaces log_outputs; an empty string restores the default output. Files are opened before
// anything changes: on error the outputs in force stay.
func (c *LogControl) SetOutputs(outputs string) error {
	return c.change(func(st *logState) error { st.outputSet = outputs; return nil })
}

// Apply sets log_level, log_filters and log_outputs together, as a reload of virtxend.conf does: all of them or,
// on error, none.
func (c *LogControl) Apply(level int, filters, outputs string) error {
	p, err := logPriority(level)
	if err != nil {
		return err
	}
	fs, err := config.ParseLogFilters(filters)
	if err != nil {
		return fmt.Errorf("log_filters: %w", err)
	}
	return c.change(func(st *logState) error {
		st.level, st.filters, st.outputSet = p, fs, outputs
		return nil
	})
}

// Close closes the file and syslog outputs; later messages are dropped.
func (c *LogControl) Close() error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	old := c.state.Load()
	next := *old
	next.outputs, next.minOutput = nil, priorityNone
	c.swap(&next)
	return closeOutputs(old.outputs, nil)
}

// change applies edit to a copy of the state in force and installs it.
func (c *LogControl) change(edit func(*logState) error) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	next := *c.state.Load()
	if err := edit(&next); err != nil {
		return err
	}
	return c.installLocked(&next)
}

func (c *LogControl) install(next *logState) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return c.installLocked(next)
}

// installLocked opens next's outputs, reusing the open files and syslog connections of the state in force,
// makes next the state in force and closes what it no longer uses.
func (c *LogControl) installLocked(next *logState) error {
	old := c.state.Load()
	var prev []*logOutput
	if old != nil {
		prev = old.outputs
	}
	specs, err := c.outputSpecs(next)
	if err != nil {
		return err
	}
	outs, err := c.openOutputs(specs, prev)
	if err != nil {
		return err
	}
	next.outputs = outs
	next.minOutput = priorityNone
	for _, o := range outs {
		next.minOutput = min(next.minOutput, o.Level)
	}
	if next.verbose && len(outs) > 0 {
		next.minOutput = min(next.minOutput, config.LogInfo)
	}
	c.swap(next)
	return closeOutputs(prev, outs)
}

// swap makes next the state in force once no record is being written, so that nothing writes to an output
// closed afterwards.
func (c *LogControl) swap(next *logState) {
	next.gen = c.gen.Add(1)
	c.mu.Lock()
	c.state.Store(next)
	c.mu.Unlock()
}

// outputSpecs returns the outputs next asks for: log_outputs, or the default output at log_level.
func (c *LogControl) outputSpecs(next *logState) ([]config.LogOutput, error) {
	if strings.TrimSpace(next.outputSet) != "" {
		return config.ParseLogOutputs(next.outputSet)
	}
	level := next.level
	if next.verbose {
		level = min(level, config.LogInfo)
	}
	switch {
	case c.stderrIsJournal, c.daemon && c.journalEnabled():
		return []config.LogOutput{{Level: level, Dest: config.LogToJournald}}, nil
	case c.daemon:
		path, err := defaultLogFile()
		if err != nil {
			return nil, err
		}
		return []config.LogOutput{{Level: level, Dest: config.LogToFile, Arg: path}}, nil
	}
	return []config.LogOutput{{Level: level, Dest: config.LogToStderr}}, nil
}

// The journal and the default log directory, variables for tests.
var (
	journalEnabled = journal.Enabled
	journalSend    = journal.Send
	logDir         = defaultLogDir
)

// defaultLogDir is where libvirt's daemons log with -d and no journald.
func defaultLogDir() (string, error) {
	if os.Geteuid() == 0 {
		return "/var/log/libvirt", nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "libvirt"), nil
}

// defaultLogFile is the default output's file, its directory created.
func defaultLogFile() (string, error) {
	dir, err := logDir()
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return "", fmt.Errorf("default log file: %w", err)
	}
	return filepath.Join(dir, "virtxend.log"), nil
}

// Log priorities beyond libvirt's four.
const priorityNone = config.LogError + 1 // above every message: nothing passes

// logPriority checks a log_level value; 0 is libvirt's default, warning.
func logPriority(level int) (int, error) {
	switch {
	case level == 0:
		return config.LogWarning, nil
	case level < config.LogDebug || level > config.LogError:
		return 0, fmt.Errorf("log level %d is not 1 (debug), 2 (info), 3 (warning) or 4 (error)", level)
	}
	return level, nil
}

// priorityLevel is the slog level of a libvirt priority.
func priorityLevel(p int) slog.Level {
	switch p {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarning:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// syncWriter serializes writes to a writer shared by the outputs of successive states.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
