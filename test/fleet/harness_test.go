package fleet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtxend/virtxend/test/testenv"
)

// suite is the control plane and the daemon binary all tests share; TestMain sets it up once.
type suite struct {
	env     *envtest.Environment
	assets  string // KUBEBUILDER_ASSETS: kube-apiserver, etcd, kubectl
	binary  string // virtxend
	dir     string
	admin   string // kubeconfig of the operator (system:masters)
	repo    string // the checkout, for config/
	missing string // why the suite cannot run, when it cannot

	once sync.Once
	a, b *host // the two fleet hosts, started by the first test that needs them
}

// hosts returns the two daemons, host-a and host-b, starting them once.
func hosts(t *testing.T) (*host, *host) {
	t.Helper()
	need(t)
	shared.once.Do(func() {
		shared.a, shared.b = newHost(t, "host-a"), newHost(t, "host-b")
		shared.a.Start(t)
		shared.b.Start(t)
	})
	if shared.a == nil || shared.a.cmd == nil || shared.b.cmd == nil {
		t.Fatal("the fleet hosts did not start (see the first test)")
	}
	return shared.a, shared.b
}

// The suite's state is built by TestMain before any test runs and only read afterwards.
var shared suite

func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard()) // envtest's own clients log through controller-runtime's logger
	code, err := setUp()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet suite:", err)
		os.Exit(1)
	}
	if code < 0 {
		code = m.Run()
	}
	for _, h := range []*host{shared.a, shared.b} {
		if h != nil {
			h.Stop(syscall.SIGTERM)
		}
	}
	if shared.env != nil {
		_ = shared.env.Stop()
	}
	os.RemoveAll(shared.dir)
	os.Exit(code)
}

// setUp builds the daemon and starts the control plane; a negative code means "run the tests".
func setUp() (int, error) {
	shared.assets = os.Getenv("KUBEBUILDER_ASSETS")
	if shared.assets == "" {
		shared.missing = "the fleet control plane (KUBEBUILDER_ASSETS: kube-apiserver, etcd, kubectl)"
		return -1, nil // every test reports it through testenv.Missing
	}
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(shared.assets, b)); err != nil {
			shared.missing = "the fleet control plane's " + b + " in " + shared.assets
			return -1, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return 1, err
	}
	shared.repo = filepath.Join(wd, "..", "..")
	if shared.dir, err = os.MkdirTemp("", "virtxend-fleet-"); err != nil {
		return 1, err
	}
	shared.binary = filepath.Join(shared.dir, "virtxend")
	build := exec.Command("go", "build", "-o", shared.binary, "github.com/virtxend/virtxend/cmd/virtxend")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 1, fmt.Errorf("build virtxend: %w", err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: shared.assets}
	// A fixed certificate directory keeps the serving certificate and the users' CA across a restart of the
	// API server (the outage test stops and starts it).
	certs := filepath.Join(shared.dir, "apiserver")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return 1, err
	}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certs}
	if _, err := env.Start(); err != nil {
		return 1, fmt.Errorf("start the control plane: %w", err)
	}
	shared.env = env
	if shared.admin, err = kubeconfigFor("admin", "system:masters"); err != nil {
		return 1, err
	}
	// The operator installs fleet mode as shipped: namespace, CRD, RBAC, node isolation (and the DaemonSet,
	// which no kubelet runs here).
	if out, err := kubectlOut(shared.admin, "apply", "-k", filepath.Join(shared.repo, "config", "fleet")); err != nil {
		return 1, fmt.Errorf("kubectl apply -k config/fleet: %v\n%s", err, out)
	}
	if out, err := kubectlOut(shared.admin, "wait", "--for=condition=Established", "--timeout=60s", "crd/xendomains.virtxend.io"); err != nil {
		return 1, fmt.Errorf("crd: %v\n%s", err, out)
	}
	return -1, nil
}

// kubeconfigFor provisions a user of the API server and writes its kubeconfig.
func kubeconfigFor(name string, groups ...string) (string, error) {
	u, err := shared.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("user %s: %w", name, err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(shared.dir, strings.ReplaceAll(name, ":", "_")+".kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// need ends the test when the control plane is missing (fails under CI).
func need(t *testing.T) {
	t.Helper()
	if shared.missing != "" {
		testenv.Missing(t, shared.missing, "make test-fleet (hack/fleet/control-plane.sh builds it)")
	}
}

func kubectlOut(kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(shared.assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// kubectl runs kubectl as the operator and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectlOut(shared.admin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// apply applies a manifest as the operator.
func apply(t *testing.T, manifest string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", path)
}

// domainYAML is a small PV XenDomain for node.
func domainYAML(name, node, runStrategy string) string {
	return fmt.Sprintf(`apiVersion: virtxend.io/v1alpha1
kind: XenDomain
metadata:
  name: %s
  namespace: default
spec:
  nodeName: %s
  runStrategy: %s
  domain:
    memory: 64Mi
    vcpu: {count: 1}
    os: {type: xen, kernel: /boot/vmlinuz}
`, name, node, runStrategy)
}

// host is one virtxend on its own simulated Xen host, in fleet mode as node Node.
type host struct {
	Node       string
	Dir        string
	Kubeconfig string
	Sock       string
	// Metrics is the address of the metrics endpoint (metrics_listen).
	Metrics string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

func newHost(t *testing.T, node string) *host {
	t.Helper()
	dir, err := os.MkdirTemp(shared.dir, node+"-")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfigFor("virtxend:node:"+node, "virtxend:nodes")
	if err != nil {
		t.Fatal(err)
	}
	metrics := freePort(t)
	conf := fmt.Sprintf(`unix_sock_dir = "%[1]s/run"
hypervisor = "sim"
domains_dir = "%[1]s/domains.d"
defines_dir = "%[1]s/defines"
state_dir = "%[1]s/state"
libxl_config_file = "%[1]s/libxl.conf"
resync_interval = 5
log_level = 2
log_filters = "3:rpc"
fleet_kubeconfig = "%[2]s"
fleet_node_name = "%[3]s"
metrics_listen = "%[4]s"
`, dir, kc, node, metrics)
	if err := os.WriteFile(filepath.Join(dir, "virtxend.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return &host{Node: node, Dir: dir, Kubeconfig: kc, Sock: filepath.Join(dir, "run", "virtxend-sock"), Metrics: metrics}
}

// freePort is a loopback address no one listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get fetches path from the host's metrics endpoint: the status code and the body (0 when it does not answer).
func (h *host) get(path string) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + h.Metrics + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Start runs the daemon and waits until its socket answers.
func (h *host) Start(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	h.log = &bytes.Buffer{}
	h.cmd = exec.Command(shared.binary, "-f", filepath.Join(h.Dir, "virtxend.conf"), "-p", filepath.Join(h.Dir, "virtxend.pid"))
	h.cmd.Stdout, h.cmd.Stderr = &lockedWriter{mu: &h.mu, w: h.log}, &lockedWriter{mu: &h.mu, w: h.log}
	if err := h.cmd.Start(); err != nil {
		h.mu.Unlock()
		t.Fatal(err)
	}
	h.done = make(chan struct{})
	cmd, done := h.cmd, h.done
	h.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", h.Sock); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("virtxend %s exited at start:\n%s", h.Node, h.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtxend %s: socket did not appear:\n%s", h.Node, h.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the daemon with sig and waits for it.
func (h *host) Stop(sig syscall.Signal) {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		fmt.Fprintf(os.Stderr, "virtxend %s did not stop on %v\n", h.Node, sig)
	}
}

// Log is what the daemon printed.
func (h *host) Log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.log == nil {
		return ""
	}
	return h.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Virsh runs virsh against the host.
func (h *host) Virsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/virsh", append([]string{"-c", "xen+unix:///system?socket=" + h.Sock}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// MustVirsh is Virsh that fails the test on error.
func (h *host) MustVirsh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.Virsh(args...)
	if err != nil {
		t.Fatalf("virsh %s on %s: %v\n%s\ndaemon log:\n%s", strings.Join(args, " "), h.Node, err, out, tail(h.Log(), 30))
	}
	return out
}

// state is virsh domstate of name on h ("" when the domain is not there).
func (h *host) state(name string) string {
	out, err := h.Virsh("domstate", name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// eventually polls cond until it holds, failing after limit (a bound on a hang, not a timing assertion).
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool, logs ...*host) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, h := range logs {
				fmt.Fprintf(&b, "\n--- %s log:\n%s", h.Node, tail(h.Log(), 40))
			}
			t.Fatalf("timed out after %s waiting for %s%s", limit, what, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "obj.yaml")
	writeFile(t, path, content)
	return path
}

// killAPIServer kills the suite's kube-apiserver with SIGKILL, as a crash would: it is the one whose command line
// names the suite's certificate directory.
func killAPIServer(t *testing.T) {
	t.Helper()
	certs := filepath.Join(shared.dir, "apiserver")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("kube-apiserver")) || !bytes.Contains(b, []byte(certs)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill kube-apiserver %d: %v", pid, err)
			}
			return
		}
	}
	t.Fatal("kube-apiserver's process not found")
}
