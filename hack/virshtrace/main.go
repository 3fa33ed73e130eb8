// Command virshtrace records the virsh packet traces that TestVirshTraces (test/e2e) replays against virtxend and
// FuzzServePacket (daemon/remote/rpc) seeds from: real virsh against Debian's real libvirtd serving its test
// driver, through a packet-logging relay (test/virshtrace.Relay, the one the test uses), one trace file per
// scripted command in test/e2e/testdata/virsh-traces, and in its errors/ directory the E* traces taken with
// faults injected by the relay (error replies in place of given procedures, features unadvertised, keepalive
// pings ignored or refused).
//
// Usage, from the top of the checkout, as root (or with libvirt-daemon and libvirt-clients installed):
//
//	go run ./hack/virshtrace [-run REGEXP] [-out DIR] [-work DIR] [-keep]
//
// -run records only the traces whose names match (default all: about 6 minutes, mostly the idle keepalive
// traces). When libvirtd or virsh is missing and the recorder is root it installs libvirt-daemon and
// libvirt-clients with apt-get, with a policy-rc.d that keeps Debian's scripts from starting a system libvirtd.
// Each trace gets a fresh libvirtd, run unprivileged (as nobody) in session mode from -work, so its
// test:///default driver starts with the driver's default domain "test" running as id 1; the setup commands
// (the "# setup:" header) run directly against it, then the traced command runs through the relay, from -work,
// so the paths in commands are ./fixtures/..., ./data/... and the relay's socket is ./proxy.sock. The E* traces
// use a node file of the test driver instead (nodes/xen*.xml under -work: domains named as the Xen guests of
// the test's E* cases, xenvm1 running as id 1). virsh's output is kept up to 25 lines.
//
// The traces are the project's own recordings: re-record after a libvirt upgrade and review the diff, since
// TestVirshTraces compares against them with the differences a Xen host legitimately shows.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/test/virshtrace"
)

// errHung is virsh not finishing in time.
var errHung = errors.New("virsh hung")

type config struct {
	virsh, libvirtd string
	out, work       string
	keep            bool
	run             *regexp.Regexp
	names           map[int32]string
}

func main() {
	out := flag.String("out", "", "where the traces go (default test/e2e/testdata/virsh-traces of the checkout)")
	work := flag.String("work", filepath.Join(os.TempDir(), "virtxend-virshtrace"),
		"work directory (emptied first; a fixed path keeps the paths in the traces stable)")
	keep := flag.Bool("keep", false, "keep the work directory (libvirtd's log, fixtures)")
	run := flag.String("run", "", "record only the traces whose names match this regexp")
	flag.Parse()
	cfg := config{virsh: "/usr/bin/virsh", libvirtd: "/usr/sbin/libvirtd", out: *out, work: *work, keep: *keep}
	var err error
	if cfg.run, err = regexp.Compile(*run); err != nil {
		fmt.Fprintln(os.Stderr, "virshtrace: -run:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := record(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "virshtrace:", err)
		os.Exit(1)
	}
}

func record(ctx context.Context, cfg config) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "test", "e2e", "testdata", "virsh-traces")
	}
	if cfg.names, err = procNames(filepath.Join(root, "daemon", "remote", "rpc", "zz_generated.procs.go")); err != nil {
		return err
	}
	if err := ensureLibvirt(cfg); err != nil {
		return err
	}
	if err := setUpWork(cfg.work); err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(cfg.work)
	}
	if err := os.MkdirAll(filepath.Join(cfg.out, "errors"), 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	versions := toolVersions(cfg)
	n := 0
	for _, s := range scripts() {
		if !cfg.run.MatchString(s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		tr, err := recordOne(ctx, cfg, s)
		for try := 2; errors.Is(err, errHung) && try <= 3; try++ {
			// virsh 9.0 now and then never sees the reply of a call made from its job thread (save): again.
			fmt.Fprintf(os.Stderr, "virshtrace: %s: %v; attempt %d\n", s.name, err, try)
			tr, err = recordOne(ctx, cfg, s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		tr.Notes = append([]string{"recorded by hack/virshtrace: " + versions}, tr.Notes...)
		path := filepath.Join(cfg.out, s.name+".txt")
		if strings.HasPrefix(s.name, "E") {
			path = filepath.Join(cfg.out, "errors", s.name+".txt")
		}
		if err := os.WriteFile(path, tr.Format(), 0o644); err != nil {
			return fmt.Errorf("write trace: %w", err)
		}
		n++
		fmt.Printf("%-34s exit %d  %-60s %.1fs\n", s.name, tr.Code, virshtrace.CallTokens(tr.Packets), time.Since(start).Seconds())
	}
	fmt.Printf("%d traces in %s\n", n, cfg.out)
	return nil
}

// recordOne starts a fresh libvirtd, runs the script's setup and records its command.
func recordOne(ctx context.Context, cfg config, s script) (*virshtrace.Trace, error) {
	d, err := startLibvirtd(ctx, cfg, filepath.Join(cfg.work, "libvirtd"))
	if err != nil {
		return nil, err
	}
	defer d.stop()
	direct := "test+unix:///default?socket=" + d.sock
	for _, step := range s.setup {
		if out, err := virshDirect(ctx, cfg, direct, step); err != nil {
			return nil, fmt.Errorf("setup %q: %w\n%s", step, err, out)
		}
	}
	sock := filepath.Join(cfg.work, "proxy.sock")
	_ = os.Remove(sock)
	relay, err := virshtrace.NewRelay(sock, d.sock, s.faults, cfg.name)
	if err != nil {
		return nil, err
	}
	defer relay.Close()

	uri := s.uri
	switch {
	case uri == "" && s.node != "":
		uri = "test+unix://" + filepath.Join(cfg.work, "nodes", s.node+".xml") + "?socket={sock}"
	case uri == "":
		uri = "test+unix:///default?socket={sock}"
	}
	uri = strings.ReplaceAll(uri, "{sock}", "./proxy.sock")
	argv := append(append(append([]string{}, s.opts...), "-c", uri), s.args...)
	line := "virsh " + strings.Join(append(append([]string{}, s.opts...), "-c", "'"+uri+"'"), " ")
	if len(s.args) > 0 {
		line += " " + strings.Join(s.args, " ")
	}
	tr := &virshtrace.Trace{Command: line, Faults: s.faults.String()}
	if s.idle > 0 {
		tr.Command = fmt.Sprintf("(sleep %d; echo 'list --all') | %s", int(s.idle.Seconds()), line)
	}
	if len(s.setup) > 0 {
		tr.Notes = append(tr.Notes, "setup: "+strings.Join(s.setup, "; "))
	}
	if len(s.during) > 0 {
		tr.Notes = append(tr.Notes, "during: once virsh has registered for the 27 events: "+strings.Join(s.during, "; "))
	}
	if s.console {
		tr.Notes = append(tr.Notes, "run under script(1), which gives virsh a terminal")
	}

	ctx, cancel := context.WithTimeout(ctx, s.idle+30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if s.console {
		cmd = exec.CommandContext(ctx, "/usr/bin/script", "-qefc", "/usr/bin/virsh "+shellJoin(argv), "/dev/null")
	} else {
		cmd = exec.CommandContext(ctx, cfg.virsh, argv...)
	}
	cmd.Dir = cfg.work
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=", "TERM=dumb")
	// One writer for both: exec then gives virsh one pipe, so its output keeps the order it was printed in.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var stdin io.WriteCloser
	if s.idle > 0 || s.console {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("virsh stdin: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start virsh: %w", err)
	}
	if s.idle > 0 {
		go func() {
			time.Sleep(s.idle)
			_, _ = io.WriteString(stdin, "list --all\n")
			stdin.Close()
		}()
	}
	duringErr := make(chan error, 1)
	if len(s.during) > 0 {
		go func() { duringErr <- runDuring(ctx, cfg, relay, direct, s.during) }()
	} else {
		duringErr <- nil
	}
	err = cmd.Wait()
	if stdin != nil {
		stdin.Close()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		tr.Code = 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		tr.Code = ee.ExitCode()
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w (calls so far: %s)\n%s", errHung, virshtrace.CallTokens(relay.Packets()), out.String())
	default:
		return nil, fmt.Errorf("virsh: %w (calls so far: %s)\n%s", err, virshtrace.CallTokens(relay.Packets()), out.String())
	}
	if err := <-duringErr; err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond) // the connections' last packets and EOFs
	relay.Close()
	text := strings.ReplaceAll(out.String(), "\r", "")
	lines := virshtrace.TrimTrailingEmpty(strings.Split(strings.TrimRight(text, "\n"), "\n"))
	if text == "" {
		lines = nil
	}
	if len(lines) > virshtrace.MaxOutputLines {
		lines, tr.Truncated = lines[:virshtrace.MaxOutputLines], true
	}
	tr.Out = lines
	tr.Packets = relay.Packets()
	return tr, nil
}

// runDuring waits until virsh has registered for every domain event (27 answered calls of procedure 316), then
// runs steps directly against libvirtd so that virsh sees their events.
func runDuring(ctx context.Context, cfg config, relay *virshtrace.Relay, uri string, steps []string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		for _, p := range relay.Packets() {
			if p.Event == "" && p.Dir == virshtrace.ServerToClient && p.Type == "REPLY" && p.Proc == int(rpc.ProcConnectDomainEventCallbackRegisterAny) {
				n++
			}
		}
		if n >= 27 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("virsh registered for %d events, not 27", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, step := range steps {
		if out, err := virshDirect(ctx, cfg, uri, step); err != nil {
			return fmt.Errorf("%q: %w\n%s", step, err, out)
		}
	}
	return nil
}

// virshDirect runs one virsh command line (fields split on blanks) against libvirtd, not through the relay.
func virshDirect(ctx context.Context, cfg config, uri, step string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.virsh, append([]string{"-c", uri}, strings.Fields(step)...)...)
	cmd.Dir = cfg.work
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// name names a procedure for the trace files.
func (cfg config) name(prog uint32, proc int32) string {
	switch prog {
	case rpc.ProgramRemote:
		return cfg.names[proc]
	case rpc.ProgramKeepalive:
		return map[int32]string{rpc.ProcKeepalivePing: "KEEPALIVE_PROC_PING", rpc.ProcKeepalivePong: "KEEPALIVE_PROC_PONG"}[proc]
	}
	return ""
}

// procNames reads the names of the REMOTE procedures from the rpc package's generated constants.
func procNames(path string) (map[int32]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("procedure names: %w", err)
	}
	re := regexp.MustCompile(`// Proc\w+ is (REMOTE_PROC_\w+)[^\n]*\n\s*Proc\w+ int32 = (\d+)`)
	names := map[int32]string{}
	for _, m := range re.FindAllSubmatch(b, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		names[int32(n)] = string(m[1])
	}
	if len(names) < 100 {
		return nil, fmt.Errorf("procedure names: only %d in %s", len(names), path)
	}
	return names, nil
}

// repoRoot is the top of the checkout the recorder runs in.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/virtxend/virtxend\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside the virtxend checkout", dir)
		}
	}
}

// setUpWork empties the work directory and writes the fixtures and node files. libvirtd runs as nobody: it
// must read the node files and write save images under data/.
func setUpWork(work string) error {
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("clean %s: %w", work, err)
	}
	for _, d := range []string{"fixtures", "nodes", "data"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return fmt.Errorf("work directory: %w", err)
		}
	}
	for _, p := range []string{work, filepath.Join(work, "data")} {
		mode := os.FileMode(0o755)
		if filepath.Base(p) == "data" {
			mode = 0o1777
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("work directory: %w", err)
		}
	}
	for name, content := range fixtures() {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("fixture: %w", err)
		}
	}
	return nil
}

// toolVersions says which virsh and libvirtd made the recordings.
func toolVersions(cfg config) string {
	v := func(path string) string {
		out, err := exec.Command(path, "--version").Output()
		if err != nil {
			return "?"
		}
		f := strings.Fields(string(out))
		if len(f) == 0 {
			return "?"
		}
		return f[len(f)-1]
	}
	return fmt.Sprintf("virsh %s against libvirtd %s (test driver)", v(cfg.virsh), v(cfg.libvirtd))
}

// shellJoin quotes args for sh -c.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for k, a := range args {
		q[k] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
