package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// EventSink receives the Adopter's events (the daemon logs them, as it does the sources' events).
type EventSink interface {
	Event(name, eventType, reason, message string)
}

// Reasons of the Adopter's events.
const (
	// ReasonAdopted: a running domain without an object got a transient one.
	ReasonAdopted = "Adopted"
	// ReasonNotAdopted: a running domain without an object could not get one (its name is taken).
	ReasonNotAdopted = "NotAdopted"
	// ReasonOrphaned: in fleet mode, a running domain has no object in this host's view (ReportOnly).
	ReasonOrphaned = "Orphaned"
)

// Adopter keeps every running domain that carries virtxend's ownership marker listed and manageable: a domain
// whose object is missing (a transient domain after a daemon restart, a domain undefined while it ran, a domain
// whose definition file went away while the daemon was down) gets a transient object, made from the live
// definition kept for it. It never stops a domain: a missing object is never a reason to. It also drops the
// live definitions of domains that are gone.
type Adopter struct {
	Client   client.Client
	Observer *Observer
	// Live are the live definitions; nil adopts domains with a definition derived from what Xen reports.
	Live LiveStore
	// Recorder receives an event per adopted domain; none when nil.
	Recorder EventSink
	Log      logr.Logger
	// Interval between passes after the first; 30 s when zero.
	Interval time.Duration
	// ReportOnly is fleet mode's policy: the API server is the record and this host may not create objects
	// there, so a marked domain without an object in this host's view is listed by the facade, reported once
	// (an event and a log line) and left running; it is adopted again when its object comes back, by its
	// domain UUID. The local policy gives it a transient object.
	ReportOnly bool
	// Owns, when set, reports whether an object of namespace ("" for any) claims the domain UUID, without a
	// listing (the local store's UUID index): a pass every Interval then neither lists nor indexes ten thousand
	// objects. Nil lists them through Client once a pass. It is called under the observer's read lock.
	Owns func(namespace, uuid string) (bool, error)

	// reported holds the domain UUIDs of orphans already reported (ReportOnly), so each is reported once per
	// absence; only Pass touches it, and passes run one at a time.
	reported map[string]bool
}

// Run waits for the first full observation of the hypervisor and for every channel in loaded (the sources' first
// loads: a domain is adopted only when no source claims it), then adopts at once and after every interval.
func (a *Adopter) Run(ctx context.Context, loaded ...<-chan struct{}) error {
	for _, ch := range append([]<-chan struct{}{a.Observer.Synced()}, loaded...) {
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
	every := a.Interval
	if every <= 0 {
		every = 30 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := a.Pass(ctx); err != nil {
			a.Log.Error(err, "adopting running domains")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Pass adopts every marked running domain that has no object, and drops the live definitions of domains that no
// longer run.
func (a *Adopter) Pass(ctx context.Context) error {
	var lives []*LiveDefinition
	if a.Live != nil {
		lives = a.Live.LiveList() // before the observation: a definition written after it belongs to a domain it sees
	}
	ns := v1alpha1.LocalNamespace
	if a.ReportOnly {
		ns = ""
	}
	owns := a.Owns
	if owns == nil {
		owners, err := a.listOwners(ctx, ns)
		if err != nil {
			return err
		}
		owns = func(_, uuid string) (bool, error) { return owners[uuid], nil }
	}
	// One walk over the observation, without copying it: the domains that run, and the marked ones no object
	// claims (a handful at most, copied to be adopted once the observer's lock is released).
	running := make(map[string]bool, len(lives))
	var unowned []Observed
	var ownErr error
	a.Observer.Each(func(ob *Observed) {
		running[strings.ToLower(ob.Info.UUID)] = true
		if ob.Marker == nil || ob.Info.State == libxl.StateDying || ownErr != nil {
			return
		}
		owned, err := owns(ns, ob.Marker.UUID)
		if err != nil {
			ownErr = err
		} else if !owned {
			unowned = append(unowned, *ob)
		}
	})
	if ownErr != nil {
		return fmt.Errorf("look up objects: %w", ownErr)
	}
	orphans := map[string]bool{}
	for i := range unowned {
		ob := &unowned[i]
		if a.ReportOnly {
			orphans[ob.Marker.UUID] = true
			a.reportOrphan(ob)
			continue
		}
		if err := a.adopt(ctx, ob); err != nil {
			a.Log.Error(err, "adopt running domain", "domain", ob.Info.Name, "domid", ob.Info.DomID)
		}
	}
	for u := range a.reported {
		if !orphans[u] {
			delete(a.reported, u) // its object came back, or the domain is gone: report a new absence again
		}
	}
	for _, l := range lives {
		if running[l.UUID] {
			continue
		}
		if err := a.Live.DeleteLive(l.UUID); err != nil {
			a.Log.Error(err, "remove the live definition of a domain that is gone", "uuid", l.UUID)
		}
	}
	return nil
}

// listOwners lists the objects of namespace ("" for all) through Client and returns their domain UUIDs.
func (a *Adopter) listOwners(ctx context.Context, ns string) (map[string]bool, error) {
	var all v1alpha1.XenDomainList
	// Read only: no deep copy of every object (the local store and a cache both share them).
	if err := a.Client.List(ctx, &all, client.UnsafeDisableDeepCopy, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	owners := make(map[string]bool, len(all.Items))
	for i := range all.Items {
		owners[all.Items[i].DomainUUID()] = true
	}
	return owners, nil
}

func (a *Adopter) adopt(ctx context.Context, ob *Observed) error {
	info, m := ob.Info, ob.Marker
	var live *LiveDefinition
	if a.Live != nil {
		if l := a.Live.Live(info.UUID); l != nil && l.UID == m.UID {
			live = l
		}
	}
	spec := bareSpec(info)
	if live != nil {
		spec = live.BootSpec().DeepCopy()
	}
	spec.Name, spec.UUID = info.Name, strings.ToLower(info.UUID)
	taken, err := a.nameTaken(ctx, info.Name)
	if err != nil {
		return err
	}
	if taken {
		msg := fmt.Sprintf("domain %d (%s) runs without its object, and the name is taken by another domain: listed, left alone", info.DomID, info.Name)
		a.event(info.Name, "Warning", ReasonNotAdopted, msg)
		return nil
	}
	why := "it was started as a transient domain"
	switch m.Source {
	case v1alpha1.SourceKindDefine:
		why = "its persistent definition is gone (undefined while running, or its file was removed)"
	case v1alpha1.SourceKindFile:
		why = "its drop-in file is gone"
	}
	obj := &v1alpha1.XenDomain{
		TypeMeta: metav1.TypeMeta{Kind: "XenDomain", APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name: info.Name, Namespace: v1alpha1.LocalNamespace, UID: m.UID,
			Labels: map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindTransient},
		},
		Spec: v1alpha1.XenDomainSpec{
			Domain:      *spec,
			RunStrategy: v1alpha1.RunStrategyManual,
			DriftPolicy: v1alpha1.DriftPolicyEnforce,
			Paused:      info.State == libxl.StatePaused,
		},
	}
	if err := a.Client.Create(ctx, obj); err != nil {
		return fmt.Errorf("create transient object: %w", err)
	}
	a.event(info.Name, "Normal", ReasonAdopted,
		fmt.Sprintf("running domain %d kept as a transient domain: %s", info.DomID, why))
	return nil
}

// nameTaken reports whether an object of the local namespace has name.
func (a *Adopter) nameTaken(ctx context.Context, name string) (bool, error) {
	var cur v1alpha1.XenDomain // a copy, on the rare path of a domain to adopt
	err := a.Client.Get(ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, &cur)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up object %s: %w", name, err)
	}
	return true, nil
}

// reportOrphan reports, once per absence, a marked domain whose object is not in this host's view.
func (a *Adopter) reportOrphan(ob *Observed) {
	if a.reported == nil {
		a.reported = map[string]bool{}
	}
	if a.reported[ob.Marker.UUID] {
		return
	}
	a.reported[ob.Marker.UUID] = true
	a.event(ob.Info.Name, "Warning", ReasonOrphaned, fmt.Sprintf(
		"domain %d (%s, uuid %s) runs without its object in this host's view: listed and left running; it is adopted again when its object comes back",
		ob.Info.DomID, ob.Info.Name, ob.Marker.UUID))
}

func (a *Adopter) event(name, eventType, reason, msg string) {
	a.Log.Info(msg, "domain", name, "reason", reason)
	if a.Recorder != nil {
		a.Recorder.Event(name, eventType, reason, msg)
	}
}

// bareSpec is a definition of a running domain from what Xen reports, for a domain whose live definition is lost.
func bareSpec(info libxl.DomainInfo) *v1alpha1.DomainSpec {
	maxKiB := max(info.MaxMemKiB, info.TargetKiB)
	cur := kibQuantity(info.TargetKiB)
	s := &v1alpha1.DomainSpec{
		Name: info.Name, UUID: info.UUID,
		Memory: kibQuantity(maxKiB), CurrentMemory: &cur,
		VCPU: &v1alpha1.VCPU{Count: uint32(max(info.MaxVcpus, 1))},
	}
	if info.OnlineVcpus > 0 && info.OnlineVcpus < info.MaxVcpus {
		n := uint32(info.OnlineVcpus)
		s.VCPU.Current = &n
	}
	s.OS.Type = "xen"
	switch info.Type {
	case libxl.DomainTypeHVM:
		s.OS.Type = "hvm"
	case libxl.DomainTypePVH:
		s.OS.Type = "xenpvh"
	}
	return s
}
