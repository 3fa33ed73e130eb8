package e2e

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// migrationPair starts two daemons, two simulated hosts, whose incoming migrations listen on the loopback.
func migrationPair(t *testing.T) (src, dst *instance) {
	t.Helper()
	start := func() *instance {
		i := newInstance(t)
		conf := "migration_address = \"127.0.0.1\"\n"
		if err := os.WriteFile(filepath.Join(i.Dir, "libxl.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		i.Start()
		return i
	}
	src, dst = start(), start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("destination log:\n%s", tail(dst.Log(), 40))
		}
	})
	return src, dst
}

func TestMigrateModes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		flags      []string
		persistent bool // the domain stays defined on the destination
		undefined  bool // the source forgets it
	}{
		{name: "direct", flags: []string{"--live"}},
		{name: "direct-persistent-undefinesource", flags: []string{"--live", "--persistent", "--undefinesource"}, persistent: true, undefined: true},
		{name: "p2p", flags: []string{"--live", "--p2p"}},
		{name: "p2p-persistent", flags: []string{"--live", "--p2p", "--persistent"}, persistent: true},
		{name: "p2p-tunnelled", flags: []string{"--live", "--p2p", "--tunnelled", "--undefinesource"}, undefined: true},
		{name: "direct-offline-copy", flags: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := migrationPair(t)
			src.defineAndStart("vm")
			args := append([]string{"migrate"}, tc.flags...)
			args = append(args, "vm", dst.URI())
			src.MustVirsh(args...)

			wantLines(t, "destination domstate", dst.MustVirsh("domstate", "--reason", "vm"), `^running \(migrated\)$`)
			persistent := "no"
			if tc.persistent {
				persistent = "yes"
			}
			wantLines(t, "destination dominfo", dst.MustVirsh("dominfo", "vm"), `^Persistent: +`+persistent+`$`)
			if tc.undefined {
				if r := src.Virsh("domstate", "vm"); r.Code == 0 {
					t.Errorf("the source still knows the domain after --undefinesource: %s", r.Stdout)
				}
			} else {
				wantLines(t, "source domstate", src.MustVirsh("domstate", "--reason", "vm"), `^shut off \(migrated\)$`)
			}
			// Exactly one host runs it.
			if out := src.MustVirsh("list", "--name"); strings.Contains(out, "vm") {
				t.Errorf("the source still runs the domain: %q", out)
			}
			if out := dst.MustVirsh("list", "--name"); !strings.Contains(out, "vm") {
				t.Errorf("the destination does not run the domain: %q", out)
			}
		})
	}
}

func TestMigratePausedAndBack(t *testing.T) {
	src, dst := migrationPair(t)
	src.defineAndStart("vm")
	src.MustVirsh("migrate", "--live", "--p2p", "--suspend", "vm", dst.URI())
	wantLines(t, "destination domstate", dst.MustVirsh("domstate", "vm"), `^paused$`)
	dst.MustVirsh("resume", "vm")
	// And back to the source, which still has the definition.
	dst.MustVirsh("migrate", "--live", "vm", src.URI())
	wantLines(t, "source domstate", src.MustVirsh("domstate", "--reason", "vm"), `^running \(migrated\)$`)
	if r := dst.Virsh("domstate", "vm"); r.Code == 0 {
		t.Errorf("a transient domain migrated away is still listed: %s", r.Stdout)
	}
}

func TestMigrateFailureKeepsSource(t *testing.T) {
	src, dst := migrationPair(t)
	src.defineAndStart("vm")
	// The destination cannot take the domain: its name is in use by another domain there.
	dst.MustVirsh("define", dst.xmlFile("other.xml", strings.Replace(tuneXML("vm"), "<name>vm</name>", "<name>vm</name>\n  <uuid>6a1b2c3d-0000-4000-8000-000000000001</uuid>", 1)))
	r := src.Virsh("migrate", "--live", "--p2p", "vm", dst.URI())
	if r.Code == 0 {
		t.Fatalf("migration into a name clash succeeded")
	}
	if !strings.Contains(r.Stderr, "already") {
		t.Errorf("error: %s", r.Stderr)
	}
	wantLines(t, "source domstate", src.MustVirsh("domstate", "vm"), `^running$`)

	// A migration URI the stream cannot use (a clash there, or a port nothing keeps listening on): whichever
	// phase fails, the source runs on and the destination keeps only its own domain.
	r = src.Virsh("migrate", "--live", "vm", dst.URI(), "tcp://127.0.0.1:1")
	if r.Code == 0 {
		t.Fatalf("migration to a closed port succeeded")
	}
	wantLines(t, "source domstate", src.MustVirsh("domstate", "vm"), `^running$`)
	if out := dst.MustVirsh("list", "--all", "--name"); strings.Count(out, "vm") != 1 {
		t.Errorf("destination domains after a failed migration: %q", out)
	}
}

// TestMigrateThroughput migrates a 1 GiB simulated guest and reports the throughput against the loopback TCP
// floor measured in the same run. It reports; it asserts nothing about time.
func TestMigrateThroughput(t *testing.T) {
	src, dst := migrationPair(t)
	src.MustVirsh("define", src.xmlFile("big.xml", strings.Replace(tuneXML("big"), "<memory unit='MiB'>512</memory>", "<memory unit='MiB'>1024</memory>", 1)))
	src.MustVirsh("start", "big")
	start := time.Now()
	src.MustVirsh("migrate", "--live", "--p2p", "big", dst.URI())
	took := time.Since(start)
	floor := loopbackFloor(t, 1<<30)
	var bytes float64
	if m := regexp.MustCompile(`migration stream sent.* bytes=(\d+)`).FindStringSubmatch(src.Log()); m != nil {
		bytes, _ = strconv.ParseFloat(m[1], 64)
	}
	t.Logf("1 GiB guest: %.0f MiB sent in %.2fs (whole virsh migrate --p2p) = %.0f MiB/s; loopback TCP floor %.0f MiB/s; ratio %.0f%%",
		bytes/(1<<20), took.Seconds(), bytes/(1<<20)/took.Seconds(), floor, 100*bytes/(1<<20)/took.Seconds()/floor)
	wantLines(t, "destination domstate", dst.MustVirsh("domstate", "big"), `^running$`)
}

// loopbackFloor measures what one TCP connection on the loopback carries, in MiB/s: 1 MiB writes and reads.
func loopbackFloor(t testing.TB, n int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 1<<20) // large reads: the floor is what the loopback carries, not a reader's limit
			for {
				if _, err := c.Read(buf); err != nil {
					break
				}
			}
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	<-done
	return float64(n>>20) / time.Since(start).Seconds()
}
