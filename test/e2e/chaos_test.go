package e2e

import (
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/virtxend/virtxend/api/domxml"
)

func defineXML(name string) string {
	return fmt.Sprintf(`<domain type='xen'>
  <name>%s</name>
  <memory unit='MiB'>8</memory>
  <vcpu>1</vcpu>
  <os><type>xen</type><kernel>/boot/vmlinuz</kernel></os>
</domain>`, name)
}

// TestKillDuringConvergence kills the daemon at random moments while 300 domains converge, 20 times; then lets
// it converge: no domain is lost or duplicated, and every file under the defines directory is whole.
func TestKillDuringConvergence(t *testing.T) {
	if testing.Short() {
		t.Skip("long test")
	}
	const rounds, files, defines = 20, 200, 100
	i := newInstance(t)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("random kill times from seed %d", seed)
	for r := 0; r < rounds; r++ {
		// Each round brings its share of new drop-in files and defines, and edits some earlier files.
		for k := r * files / rounds; k < (r+1)*files/rounds; k++ {
			i.WriteSpec(fmt.Sprintf("f%03d.yaml", k), pvSpec(fmt.Sprintf("f%03d", k), 8, "Always"))
		}
		for e := 0; e < 3 && r > 0; e++ {
			k := rng.Intn(r * files / rounds)
			i.WriteSpec(fmt.Sprintf("f%03d.yaml", k), pvSpec(fmt.Sprintf("f%03d", k), 8+rng.Intn(3), "Always"))
		}
		i.Start()
		var wg sync.WaitGroup
		wg.Add(1)
		go func(r int) { // virsh define + start, racing the kill
			defer wg.Done()
			c, err := net.Dial("unix", i.Sock)
			if err != nil {
				return
			}
			l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(c))
			if l.ConnectToURI("xen:///system") != nil {
				return
			}
			defer l.Disconnect()
			for k := r * defines / rounds; k < (r+1)*defines/rounds; k++ {
				d, err := l.DomainDefineXML(defineXML(fmt.Sprintf("d%03d", k)))
				if err != nil {
					return // killed meanwhile
				}
				_ = l.DomainCreate(d)
			}
		}(r)
		time.Sleep(time.Duration(20+rng.Intn(600)) * time.Millisecond)
		i.Kill()
		wg.Wait()
		checkDefinesWhole(t, i.DefinesDir, r)
	}

	// Converge, then check.
	i.Start()
	l := i.GoLibvirt()
	i.Eventually("every file domain running", 60*time.Second, func() bool {
		run := runningByName(t, l)
		for k := 0; k < files; k++ {
			if _, ok := run[fmt.Sprintf("f%03d", k)]; !ok {
				return false
			}
		}
		return true
	})
	all, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, d := range all {
		seen[d.Name]++
	}
	defined := 0
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", name, n)
		}
		if strings.HasPrefix(name, "d") {
			defined++
		}
	}
	checkDefinesWhole(t, i.DefinesDir, rounds)
	ents, _ := os.ReadDir(i.DefinesDir)
	onDisk := 0
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".xml"); ok {
			onDisk++
			if seen[name] == 0 {
				t.Errorf("%s is on disk and not listed; the daemon said of it:\n%s", e.Name(), linesWith(i.Log(), name))
			}
		}
	}
	if defined != onDisk {
		t.Errorf("%d defined domains listed, %d definition files on disk", defined, onDisk)
	}
	i.Stop()
	for name, d := range hostDomains(t, i.StateDir) {
		if strings.HasPrefix(name, "f") && seen[name] != 1 {
			t.Errorf("host domain %s (%d) is not listed once", name, d.DomID)
		}
	}
	t.Logf("%d file domains running, %d domains defined through RPC", files, defined)
}

// checkDefinesWhole parses every definition file: none may be truncated or half-written.
func checkDefinesWhole(t *testing.T, dir string, round int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".xml") || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if _, err := domxml.Parse(b); err != nil {
			t.Fatalf("round %d: %s is corrupt: %v\n%s", round, e.Name(), err, b)
		}
	}
}

// linesWith returns the lines of log that mention word.
func linesWith(log, word string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
