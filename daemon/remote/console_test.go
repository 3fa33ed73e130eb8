package remote

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// consoleClient is one go-libvirt console session: what it types and what it has read.
type consoleClient struct {
	in   *io.PipeWriter
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

// Write collects what the console stream carries.
func (c *consoleClient) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *consoleClient) read() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func openTestConsole(e *txEnv, d libvirt.Domain, flags uint32) *consoleClient {
	pr, pw := io.Pipe()
	c := &consoleClient{in: pw, done: make(chan error, 1)}
	go func() { c.done <- e.L.DomainOpenConsoleBidirectional(d, nil, pr, c, flags) }()
	e.t.Cleanup(func() { pw.Close() })
	return c
}

func (c *consoleClient) wait(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("console session did not end: %s", what)
		return nil
	}
}

func TestConsole(t *testing.T) {
	e := newTxEnv(t)
	d := e.add("con", v1alpha1.SourceKindDefine, true)
	first := openTestConsole(e, d, 0)
	e.eventually("the guest's banner", func() bool { return strings.Contains(first.read(), "con login: ") })

	second := openTestConsole(e, d, 0)
	txWantErr(t, second.wait(t, "refused"), libvirt.ErrOperationFailed, "Active console session exists for this domain")

	if _, err := first.in.Write([]byte("root\r")); err != nil {
		t.Fatal(err)
	}
	e.eventually("the echo", func() bool { return strings.Contains(first.read(), "root\r\n") })

	forced := openTestConsole(e, d, consoleForce)
	if err := first.wait(t, "taken over"); err == nil {
		t.Error("the session taken over ended without an error")
	}
	if _, err := forced.in.Write([]byte("again\r")); err != nil {
		t.Fatal(err)
	}
	e.eventually("the echo on the new session", func() bool { return strings.Contains(forced.read(), "again\r\n") })

	// The guest going away ends the session.
	if err := e.L.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	forced.in.Close()
	forced.wait(t, "domain destroyed")

	txWantErr(t, openTestConsole(e, d, 0).wait(t, "inactive"), libvirt.ErrOperationInvalid, "domain is not running")
	dom0, _ := e.L.DomainLookupByID(0)
	txWantErr(t, openTestConsole(e, dom0, 0).wait(t, "dom0"), libvirt.ErrOperationInvalid, "Domain-0 does not support requested operation")
	if err := e.L.DomainCreate(d); err != nil {
		t.Fatal(err)
	}
	d, _ = e.L.DomainLookupByName("con")
	err := func() error {
		pr, pw := io.Pipe()
		defer pw.Close()
		return e.L.DomainOpenConsoleBidirectional(d, libvirt.OptString{"serial3"}, pr, io.Discard, 0)
	}()
	txWantErr(t, err, libvirt.ErrInternalError, "cannot find character device serial3")
}
