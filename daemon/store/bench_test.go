package store

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// benchDomain is a domain of typical size: two disks, a NIC, labels and a few conditions.
func benchDomain(i int) *v1alpha1.XenDomain {
	return domain(fmt.Sprintf("vm%04d", i), withLabels("tier", []string{"web", "db", "cache"}[i%3], "src", "file"), func(d *v1alpha1.XenDomain) {
		d.Annotations = map[string]string{"virtxend.io/source": fmt.Sprintf("/etc/virtxend/domains.d/vm%04d.yaml", i)}
		d.Spec.Domain.Devices.Disks = []v1alpha1.Disk{
			{Type: "file", Device: "disk", Driver: &v1alpha1.DiskDriver{Name: "qemu", Type: "qcow2"},
				Source: &v1alpha1.DiskSource{File: fmt.Sprintf("/var/lib/xen/images/vm%04d.qcow2", i)}, Target: v1alpha1.DiskTarget{Dev: "xvda", Bus: "xen"}},
			{Type: "file", Device: "cdrom", Source: &v1alpha1.DiskSource{File: "/srv/iso/debian.iso"}, Target: v1alpha1.DiskTarget{Dev: "xvdb", Bus: "xen"}, ReadOnly: true},
		}
		d.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{{Type: "bridge", MAC: "00:16:3e:00:00:01", Source: &v1alpha1.InterfaceSource{Bridge: "xenbr0"}}}
	})
}

func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	s := newTestStore(b, Options{})
	for i := range n {
		mustCreate(b, s, benchDomain(i))
	}
	return s
}

func BenchmarkCreate(b *testing.B) {
	s := newTestStore(b, Options{})
	objs := make([]*v1alpha1.XenDomain, b.N)
	for i := range objs {
		objs[i] = benchDomain(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Create(context.Background(), objs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b, 1000)
	d := &v1alpha1.XenDomain{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: fmt.Sprintf("vm%04d", i%1000)}, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := benchStore(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := &v1alpha1.XenDomain{}
		i := 0
		for pb.Next() {
			if err := s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: fmt.Sprintf("vm%04d", i%1000)}, d); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkList1000(b *testing.B) {
	s := benchStore(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		list := &v1alpha1.XenDomainList{}
		if err := s.List(context.Background(), list); err != nil || len(list.Items) != 1000 {
			b.Fatal(err, len(list.Items))
		}
	}
}

func BenchmarkListLabelSelector1000(b *testing.B) {
	s := benchStore(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		list := &v1alpha1.XenDomainList{}
		if err := s.List(context.Background(), list, client.MatchingLabels{"tier": "web"}); err != nil || len(list.Items) != 334 {
			b.Fatal(err, len(list.Items))
		}
	}
}

// BenchmarkUpdate changes the spec of one of 1000 objects per iteration (a generation bump), with two
// subscribers draining the events as controllers would.
func BenchmarkUpdate(b *testing.B) {
	s := benchStore(b, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		sub, err := s.Subscribe(ctx, &v1alpha1.XenDomainList{}, 0)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range sub.Events() {
			}
		}()
	}
	objs := make([]*v1alpha1.XenDomain, 1000)
	for i := range objs {
		objs[i] = &v1alpha1.XenDomain{}
		if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: fmt.Sprintf("vm%04d", i)}, objs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d := objs[i%1000]
		d.Spec.Domain.Title = fmt.Sprint(i)
		if err := s.Update(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatusUpdate(b *testing.B) {
	s := benchStore(b, 1000)
	objs := make([]*v1alpha1.XenDomain, 1000)
	for i := range objs {
		objs[i] = &v1alpha1.XenDomain{}
		if err := s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: fmt.Sprintf("vm%04d", i)}, objs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d := objs[i%1000]
		d.Status.RestartCount = int32(i)
		d.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRunning, ObservedGeneration: d.Generation}}
		if err := s.Status().Update(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMergePatch(b *testing.B) {
	s := benchStore(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"domain":{"title":"t%d"}}}`, i))
		if err := s.Patch(context.Background(), domain(fmt.Sprintf("vm%04d", i%1000)), p); err != nil {
			b.Fatal(err)
		}
	}
}
