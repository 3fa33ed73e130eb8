package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/go-logr/logr"
)

// lockedBuf is a bytes.Buffer for concurrent writers.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestLogControl(t *testing.T, o LogOptions) (*LogControl, *lockedBuf) {
	t.Helper()
	buf := &lockedBuf{}
	o.Stderr = buf
	c, err := NewLogControl(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, buf
}

// logAs logs "<kind> from <name>" at kind (debug, info, error) from the logger named name ("" for the root).
func logAs(root logr.Logger, name, kind string) string {
	l := root
	for _, n := range strings.Split(name, "/") {
		if n != "" {
			l = l.WithName(n)
		}
	}
	msg := kind + " from " + name
	switch kind {
	case "debug":
		l.V(1).Info(msg)
	case "info":
		l.Info(msg)
	case "error":
		l.Error(errors.New("boom"), msg)
	}
	return msg
}

func TestLogFilters(t *testing.T) {
	for _, tc := range []struct {
		level   int
		filters string
		name    string
		kind    string
		want    bool
	}{
		{3, "", "remote", "info", false},
		{3, "", "remote", "error", true},
		{2, "", "remote", "info", true},
		{2, "", "remote", "debug", false},
		{3, "1:remote", "remote", "debug", true},
		{3, "1:remote", "remote/admin", "debug", true}, // "remote.admin" contains "remote"
		{3, "1:remote", "observer", "info", false},
		{3, "1:mote", "remote", "debug", true}, // a substring
		{1, "4:spec*", "specdir", "info", false},
		{1, "4:spec*", "specdir", "error", true},
		{1, "4:spec?ir", "specdir", "info", false},
		{1, "4:spec?ir", "defines", "info", true},
		{3, "1:remote 4:remote", "remote", "debug", true}, // the first match wins
		{1, "4:remote 1:remote", "remote", "info", false},
		{3, "1:daemon", "", "debug", true}, // the root logger is "daemon"
		{1, "4:*", "", "info", false},
		{1, "4:*", "reconciler", "info", false},
	} {
		t.Run(fmt.Sprintf("%d %s %s %s", tc.level, tc.filters, tc.name, tc.kind), func(t *testing.T) {
			c, buf := newTestLogControl(t, LogOptions{Level: tc.level, Filters: tc.filters, Outputs: "1:stderr"})
			msg := logAs(c.Logger(), tc.name, tc.kind)
			if got := strings.Contains(buf.String(), msg); got != tc.want {
				t.Errorf("logged %v, want %v:\n%s", got, tc.want, buf)
			}
		})
	}
}

func TestLogLineFormat(t *testing.T) {
	c, buf := newTestLogControl(t, LogOptions{Level: 1, Outputs: "1:stderr"})
	log := c.Logger().WithName("remote").WithValues("domain", "vm1")
	log.Info("domain started", "domid", 3)
	log.Error(errors.New("no memory"), "start failed")
	c.Logger().Info("virtxend started")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=INFO msg="domain started" logger=remote domain=vm1 domid=3`,
		`level=ERROR msg="start failed" logger=remote domain=vm1 err="no memory"`,
		`level=INFO msg="virtxend started"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", buf)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "time=") || !strings.HasSuffix(l, want[i]) {
			t.Errorf("line %d: %q, want time=... %s", i, l, want[i])
		}
	}
}

func TestLogOutputs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c, buf := newTestLogControl(t, LogOptions{Level: 1, Outputs: "4:stderr 2:file:virtxend.log"})
	path := filepath.Join(dir, "virtxend.log")
	if got, want := c.Outputs(), "4:stderr 2:file:"+path; got != want {
		t.Errorf("outputs %q, want %q", got, want)
	}
	root := c.Logger()
	dbg := logAs(root, "remote", "debug")
	info := logAs(root, "remote", "info")
	bad := logAs(root, "remote", "error")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file := string(data)
	for _, tc := range []struct {
		where, text, msg string
		want             bool
	}{
		{"file", file, dbg, false}, {"file", file, info, true}, {"file", file, bad, true},
		{"stderr", buf.String(), info, false}, {"stderr", buf.String(), bad, true},
	} {
		if got := strings.Contains(tc.text, tc.msg); got != tc.want {
			t.Errorf("%s has %q: %v, want %v", tc.where, tc.msg, got, tc.want)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v (%v), want 0600", st.Mode(), err)
	}
}

func TestLogRuntimeChanges(t *testing.T) {
	dir := t.TempDir()
	c, buf := newTestLogControl(t, LogOptions{Level: 3, Outputs: "1:stderr"})
	root := c.Logger()
	log := root.WithName("remote")
	if log.V(1).Enabled() {
		t.Fatal("debug enabled at log_level 3")
	}
	if err := c.SetFilters("1:remote"); err != nil {
		t.Fatal(err)
	}
	if !log.V(1).Enabled() || root.WithName("observer").V(1).Enabled() {
		t.Error("filter 1:remote not applied to a logger made before the change")
	}
	if err := c.SetFilters("bogus"); err == nil || c.Filters() != "1:remote" {
		t.Errorf("bad filters: err %v, filters now %q", err, c.Filters())
	}
	if err := c.SetLevel(1); err != nil || !root.V(1).Enabled() {
		t.Errorf("SetLevel(1): %v", err)
	}
	if err := c.SetLevel(7); err == nil || c.Level() != 1 {
		t.Errorf("SetLevel(7): %v, level %d", err, c.Level())
	}

	// A file that cannot be opened changes nothing.
	err := c.SetOutputs("1:file:" + filepath.Join(dir, "missing", "x.log"))
	if !errors.Is(err, fs.ErrNotExist) || c.Outputs() != "1:stderr" {
		t.Errorf("bad output: %v, outputs now %q", err, c.Outputs())
	}
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	if err := c.SetOutputs("1:file:" + a); err != nil {
		t.Fatal(err)
	}
	msgA := logAs(root, "remote", "info")
	if err := c.SetOutputs("1:file:" + a + " 1:file:" + b); err != nil {
		t.Fatal(err)
	}
	msgAB := logAs(root, "x", "info")
	if err := c.SetOutputs("1:file:" + b); err != nil {
		t.Fatal(err)
	}
	msgB := logAs(root, "y", "info")
	dataA, _ := os.ReadFile(a)
	dataB, _ := os.ReadFile(b)
	if !strings.Contains(string(dataA), msgA) || !strings.Contains(string(dataA), msgAB) || strings.Contains(string(dataA), msgB) {
		t.Errorf("a.log:\n%s", dataA)
	}
	if strings.Contains(string(dataB), msgA) || !strings.Contains(string(dataB), msgAB) || !strings.Contains(string(dataB), msgB) {
		t.Errorf("b.log:\n%s", dataB)
	}
	if strings.Contains(buf.String(), msgA) {
		t.Error("stderr still written after the outputs changed")
	}

	// Apply is all or nothing.
	if err := c.Apply(2, "1:libxl", "9:stderr"); err == nil || c.Level() != 1 || c.Filters() != "1:remote" {
		t.Errorf("Apply with a bad output: %v; level %d filters %q", err, c.Level(), c.Filters())
	}
	if err := c.Apply(2, "", ""); err != nil || c.Level() != 2 || c.Filters() != "" || c.Outputs() != "2:stderr" {
		t.Errorf("Apply: %v; level %d filters %q outputs %q", err, c.Level(), c.Filters(), c.Outputs())
	}
}

// TestLogConcurrentChanges logs from many goroutines while the outputs switch between files: run with -race.
func TestLogConcurrentChanges(t *testing.T) {
	dir := t.TempDir()
	c, _ := newTestLogControl(t, LogOptions{Level: 1, Outputs: "1:stderr"})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			log := c.Logger().WithName(fmt.Sprint("w", i))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				log.Info("line", "n", n)
			}
		})
	}
	for i := range 50 {
		outs := fmt.Sprintf("1:file:%s/%d.log", dir, i%3)
		if i%2 == 0 {
			outs += " 2:stderr"
		}
		if err := c.SetOutputs(outs); err != nil {
			t.Fatal(err)
		}
		if err := c.SetFilters(fmt.Sprintf("%d:w%d", 1+i%4, i%4)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i := range 3 {
		data, err := os.ReadFile(fmt.Sprintf("%s/%d.log", dir, i))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if l != "" && !strings.HasPrefix(l, "time=") {
				t.Fatalf("torn line in %d.log: %q", i, l)
			}
		}
	}
}

func TestLogJournald(t *testing.T) {
	type entry struct {
		msg  string
		prio journal.Priority
		vars map[string]string
	}
	var mu sync.Mutex
	var got []entry
	defer func(f func(string, journal.Priority, map[string]string) error) { journalSend = f }(journalSend)
	journalSend = func(msg string, p journal.Priority, vars map[string]string) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, entry{msg, p, vars})
		return nil
	}
	c, buf := newTestLogControl(t, LogOptions{Level: 2, Outputs: "2:journald"})
	log := c.Logger().WithName("remote")
	log.Info("domain started", "domain", "vm1", "_PID", 1, "message", "x")
	log.V(1).Info("hidden")
	log.Error(errors.New("boom"), "failed")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("entries %+v", got)
	}
	e := got[0]
	if e.msg != `domain started logger=remote domain=vm1 _PID=1 message=x` || e.prio != journal.PriInfo {
		t.Errorf("entry %q priority %d", e.msg, e.prio)
	}
	for k, v := range map[string]string{"LIBVIRT_SOURCE": "remote", "SYSLOG_IDENTIFIER": "virtxend", "DOMAIN": "vm1", "PID": "1", "LOGGER": "remote"} {
		if e.vars[k] != v {
			t.Errorf("field %s = %q, want %q (%v)", k, e.vars[k], v, e.vars)
		}
	}
	if _, ok := e.vars["MESSAGE"]; ok {
		t.Errorf("an attribute overrode MESSAGE: %v", e.vars)
	}
	if got[1].prio != journal.PriErr || got[1].msg != `failed logger=remote err=boom` {
		t.Errorf("error entry %+v", got[1])
	}
	if buf.String() != "" {
		t.Errorf("stderr written: %s", buf)
	}
}

func TestLogVerbose(t *testing.T) {
	c, buf := newTestLogControl(t, LogOptions{Level: 4, Filters: "4:*", Outputs: "4:stderr", Verbose: true})
	info := logAs(c.Logger(), "remote", "info")
	debug := logAs(c.Logger(), "remote", "debug")
	if !strings.Contains(buf.String(), info) || strings.Contains(buf.String(), debug) {
		t.Errorf("-v must log info, not debug (as libvirt's daemons):\n%s", buf)
	}
	if c.Outputs() != "4:stderr" || c.Filters() != "4:*" {
		t.Errorf("-v changed the settings reported: %q %q", c.Outputs(), c.Filters())
	}
	d, _ := newTestLogControl(t, LogOptions{Level: 3, Verbose: true})
	if d.Outputs() != "2:stderr" {
		t.Errorf("default output with -v: %q", d.Outputs())
	}
}

func TestLogDefaultOutput(t *testing.T) {
	dir := t.TempDir()
	defer func(e func() bool, d func() (string, error)) { journalEnabled, logDir = e, d }(journalEnabled, logDir)
	logDir = func() (string, error) { return filepath.Join(dir, "log"), nil }
	for _, tc := range []struct {
		daemon, journald bool
		want             string
	}{
		{false, false, "2:stderr"},
		{false, true, "2:stderr"},
		{true, true, "2:journald"},
		{true, false, "2:file:" + filepath.Join(dir, "log", "virtxend.log")},
	} {
		journalEnabled = func() bool { return tc.journald }
		c, _ := newTestLogControl(t, LogOptions{Level: 2, Daemon: tc.daemon})
		if got := c.Outputs(); got != tc.want {
			t.Errorf("daemon %v journald %v: %q, want %q", tc.daemon, tc.journald, got, tc.want)
		}
		if err := c.SetLevel(4); err != nil || !strings.HasPrefix(c.Outputs(), "4:") {
			t.Errorf("the default output does not follow log_level: %q (%v)", c.Outputs(), err)
		}
	}
}

func TestLogBadSettings(t *testing.T) {
	for _, o := range []LogOptions{
		{Level: 5},
		{Filters: "x"},
		{Outputs: "1:nowhere"},
		{Outputs: "1:file:/nonexistent-dir/x.log"},
	} {
		if _, err := NewLogControl(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"**", "remote", true}, {"*remote*", "remote", true}, {"*remote*", "remote.admin", true},
		{"*mote*", "remote", true}, {"*spec*dir*", "specdir", true}, {"*spec?ir*", "specdir", true},
		{"*spec?ir*", "specir", false}, {"*libxl*", "remote", false}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbYcZ", false},
		{"?", "", false}, {"a?", "ab", true}, {"*a*a*a*", "aaa", true}, {"*a*a*a*", "aa", false},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
