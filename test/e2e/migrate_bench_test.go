package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// BenchmarkMigrate1GiB migrates a 1 GiB simulated guest peer-to-peer between two daemons on this machine, back
// and forth, one migration per iteration, and reports the stream's throughput (bytes sent over the whole
// migration's time, Begin to Confirm) against the loopback TCP floor measured in the same run (one connection,
// 1 MiB writes, before and after): the goal is ≥ 70 % of it. Run it with
//
//	go test ./test/e2e/ -run '^$' -bench Migrate1GiB -benchtime 4x
//
// (make bench runs it with the other benchmarks; it takes a few seconds).
func BenchmarkMigrate1GiB(b *testing.B) {
	a, c := benchDaemon(b), benchDaemon(b)
	xml := strings.Replace(tuneXML("big"), "<memory unit='MiB'>512</memory>", "<memory unit='MiB'>1024</memory>", 1)
	dom, err := a.l.DomainDefineXML(xml)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.l.DomainCreate(dom); err != nil {
		b.Fatal(err)
	}
	// One round trip first, untimed: the first migration pays for cold code paths and fresh pages on both sides.
	for _, hop := range [][2]*benchInstance{{a, c}, {c, a}} {
		d, err := hop[0].l.DomainLookupByName("big")
		if err == nil {
			_, err = hop[0].l.DomainMigratePerform3Params(d, libvirt.OptString{hop[1].uri}, nil, nil, libvirt.MigrateLive|libvirt.MigratePeer2peer)
		}
		if err != nil {
			b.Fatalf("warm-up migration: %v", err)
		}
	}
	floor := loopbackFloor(b, 1<<30)
	load, _ := os.ReadFile("/proc/loadavg")
	from, to := a, c
	var bytes float64
	var took time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		d, err := from.l.DomainLookupByName("big")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := from.l.DomainMigratePerform3Params(d, libvirt.OptString{to.uri}, nil, nil,
			libvirt.MigrateLive|libvirt.MigratePeer2peer); err != nil {
			b.Fatalf("migrate: %v\n%s", err, tail(from.log.String(), 20))
		}
		took += time.Since(start)
		bytes += from.lastSent(b)
		from, to = to, from
	}
	b.StopTimer()
	floor = (floor + loopbackFloor(b, 1<<30)) / 2
	rate := bytes / (1 << 20) / took.Seconds()
	b.ReportMetric(rate, "MiB/s")
	b.ReportMetric(floor, "floor-MiB/s")
	b.ReportMetric(100*rate/floor, "%floor")
	b.Logf("1 GiB guest, %d migrations: %.0f MiB/s against a loopback floor of %.0f MiB/s (%.0f%%); loadavg %s",
		b.N, rate, floor, 100*rate/floor, strings.TrimSpace(string(load)))
}

// benchInstance is a daemon a benchmark started (instance needs a *testing.T).
type benchInstance struct {
	uri string
	l   *libvirt.Libvirt
	log *lockedBuffer
}

// lastSent is the byte count of the last migration stream the daemon sent, from its log.
func (i *benchInstance) lastSent(b *testing.B) float64 {
	m := regexp.MustCompile(`migration stream sent.* bytes=(\d+)`).FindAllStringSubmatch(i.log.String(), -1)
	if len(m) == 0 {
		b.Fatalf("no migration stream in the log:\n%s", tail(i.log.String(), 20))
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return v
}

func benchDaemon(b *testing.B) *benchInstance {
	b.Helper()
	dir := b.TempDir()
	conf := fmt.Sprintf(`unix_sock_dir = "%[1]s/run"
hypervisor = "sim"
domains_dir = "%[1]s/domains.d"
defines_dir = "%[1]s/defines"
state_dir = "%[1]s/state"
libxl_config_file = "%[1]s/libxl.conf"
log_level = 2
`, dir)
	for name, content := range map[string]string{"virtxend.conf": conf, "libxl.conf": "migration_address = \"127.0.0.1\"\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		b.Fatal(err)
	}
	i := &benchInstance{log: &lockedBuffer{}}
	cmd := exec.Command(binary, "-f", filepath.Join(dir, "virtxend.conf"), "-p", filepath.Join(dir, "virtxend.pid"))
	cmd.Stdout, cmd.Stderr = i.log, i.log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	sock := filepath.Join(dir, "run", "virtxend-sock")
	i.uri = "xen+unix:///system?socket=" + sock
	var conn net.Conn
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("virtxend did not start:\n%s", i.log.String())
		}
	}
	i.l = libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	if err := i.l.ConnectToURI(libvirt.ConnectURI("xen:///system")); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = i.l.Disconnect() })
	return i
}
