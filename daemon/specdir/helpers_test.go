package specdir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
)

func newScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// newClient returns the store the loader writes to in tests: the daemon's own.
func newClient(t testing.TB) client.Client {
	t.Helper()
	s, err := store.New(newScheme(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingClient counts writes.
type countingClient struct {
	client.Client
	creates, updates, deletes atomic.Int64
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.creates.Add(1)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.updates.Add(1)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.deletes.Add(1)
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *countingClient) writes() int64 {
	return c.creates.Load() + c.updates.Load() + c.deletes.Load()
}

func (c *countingClient) reset() {
	c.creates.Store(0)
	c.updates.Store(0)
	c.deletes.Store(0)
}

type event struct{ name, typ, reason, msg string }

type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Event(name, typ, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{name, typ, reason, msg})
}

// take returns and forgets the events recorded so far.
func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// find returns the first event with reason whose message contains sub.
func find(evs []event, reason, sub string) *event {
	for i := range evs {
		if evs[i].reason == reason && strings.Contains(evs[i].msg, sub) {
			return &evs[i]
		}
	}
	return nil
}

type fixture struct {
	t   testing.TB
	dir string
	c   *countingClient
	rec *recorder
	l   *Loader
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: newClient(t)}, rec: &recorder{}}
	f.l = New(f.dir, f.c, Options{Recorder: f.rec})
	return f
}

func (f *fixture) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) remove(name string) {
	f.t.Helper()
	if err := os.Remove(filepath.Join(f.dir, name)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) rescan() {
	f.t.Helper()
	if err := f.l.Rescan(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// get returns the object named name, or nil.
func (f *fixture) get(name string) *v1alpha1.XenDomain {
	f.t.Helper()
	var o v1alpha1.XenDomain
	err := f.c.Get(context.Background(), types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, &o)
	if err != nil {
		if client.IgnoreNotFound(err) != nil {
			f.t.Fatal(err)
		}
		return nil
	}
	return &o
}

func (f *fixture) mustGet(name string) *v1alpha1.XenDomain {
	f.t.Helper()
	o := f.get(name)
	if o == nil {
		f.t.Fatalf("domain %q not in the store", name)
	}
	return o
}

func (f *fixture) count() int {
	f.t.Helper()
	var l v1alpha1.XenDomainList
	if err := f.c.List(context.Background(), &l); err != nil {
		f.t.Fatal(err)
	}
	return len(l.Items)
}

// domainYAML is a minimal valid XenDomain.
func domainYAML(name, uuid, memory string) string {
	s := "apiVersion: virtxend.io/v1alpha1\nkind: XenDomain\nmetadata:\n  name: " + name + "\nspec:\n  domain:\n"
	if uuid != "" {
		s += "    uuid: " + uuid + "\n"
	}
	return s + "    memory: " + memory + "\n    os:\n      type: xen\n      kernel: /boot/vmlinuz\n"
}
