package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// libvirt's lifecycle event details of a migration, and the stop reason it leaves.
const (
	DetailStoppedMigrated  = 3 // VIR_DOMAIN_EVENT_STOPPED_MIGRATED
	DetailResumedMigrated  = 1 // VIR_DOMAIN_EVENT_RESUMED_MIGRATED
	DetailSuspendedMigrate = 1 // VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED
	stoppedMigrated        = "migrated"
)

// Migration roles and phases, as the journal records them.
const (
	MigrationSource      = "source"
	MigrationDestination = "destination"
	// PhaseSending: the source sends; the guest still runs there (or is suspended for the last round).
	PhaseSending = "sending"
	// PhaseSent: the source sent everything and keeps the guest suspended until confirmed or cancelled.
	PhaseSent = "sent"
	// PhaseReceiving: the destination receives; nothing runs there.
	PhaseReceiving = "receiving"
	// PhaseReceived: the destination holds the guest paused until Finish.
	PhaseReceived = "received"
	// PhaseFinishing: the destination is letting the guest run (the switch-over).
	PhaseFinishing = "finishing"
)

// ErrMigrationAborted is the cause of a migration stopped by ABORT_JOB before the switch-over.
var ErrMigrationAborted = errors.New("migration aborted")

// MigrationJob is one migration in flight on this host: the stream the facade opened and what the reconciler
// reports of its progress. The facade registers it under the action ID before it writes the action.
type MigrationJob struct {
	// UUID and Name identify the domain.
	UUID, Name string
	// Out is where a MigrateOut sends, In where a MigrateIn receives from.
	Out io.Writer
	In  io.Reader
	// Live copies memory while the guest runs (VIR_MIGRATE_LIVE).
	Live bool
	// StreamVersion is the version the source's cookie announced.
	StreamVersion int
	// Started is when the job began.
	Started time.Time
	// Peer is a libvirt URI of the destination's daemon (the source's journal keeps it, to settle a migration
	// this daemon was interrupted in); DestName is the domain's name there. Empty when unknown.
	Peer, DestName string
	// UndefineSource: once the destination runs the guest, the source forgets its definition
	// (VIR_MIGRATE_UNDEFINE_SOURCE); the journal keeps it for a migration settled after a restart.
	UndefineSource bool

	ctx    context.Context
	cancel context.CancelCauseFunc

	iteration, processed, remaining, total atomic.Uint64
	suspended                              atomic.Bool
}

// NewMigrationJob returns a job whose Abort stops the transfer.
func NewMigrationJob(uuid, name string) *MigrationJob {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &MigrationJob{UUID: uuid, Name: name, Started: time.Now(), ctx: ctx, cancel: cancel}
}

// Abort stops the transfer unless the guest is already suspended for the last round: before the switch-over
// the source keeps running. It reports whether the job was stopped.
func (j *MigrationJob) Abort() bool {
	if j.suspended.Load() {
		return false
	}
	j.cancel(ErrMigrationAborted)
	return true
}

// Progress reports how far the job has got.
func (j *MigrationJob) Progress() libxl.MigrationProgress {
	return libxl.MigrationProgress{Iteration: int(j.iteration.Load()), Processed: j.processed.Load(),
		Remaining: j.remaining.Load(), Total: j.total.Load(), Suspended: j.suspended.Load()}
}

func (j *MigrationJob) record(p libxl.MigrationProgress) {
	j.iteration.Store(uint64(p.Iteration))
	j.processed.Store(p.Processed)
	j.remaining.Store(p.Remaining)
	j.total.Store(p.Total)
	if p.Suspended {
		j.suspended.Store(true)
	}
}

// Migrations holds the migrations in flight of one daemon: their jobs in memory and their phases in a journal
// under Dir (one file per domain), so that a daemon restarted mid-way rolls back what it can without ever
// running a guest twice.
type Migrations struct {
	// Dir holds the journal; empty keeps none.
	Dir string

	// Resolve asks the destination of a migration whose source had sent everything what became of it: it drops
	// a copy it holds but has not let run yet, and reports where the guest runs. The facade sets it; nil leaves
	// such a migration suspended for a confirm, a cancel or an operator.
	Resolve func(ctx context.Context, e JournalEntry) (MigrationOutcome, error)
	// Undefine forgets the persistent definition of a domain that migrated away with UNDEFINE_SOURCE, when a
	// migration is settled from the journal (the confirm that would have done it was lost). The facade sets it
	// (definitions are its files); nil keeps the definition.
	Undefine func(ctx context.Context, obj *v1alpha1.XenDomain) error

	mu       sync.Mutex
	byAction map[string]*MigrationJob
	byDomain map[string]*MigrationJob
}

// MigrationOutcome is where a migration left the guest.
type MigrationOutcome int

const (
	// OutcomeUnknown: the destination cannot tell yet (unreachable, or in the middle of its switch-over).
	OutcomeUnknown MigrationOutcome = iota
	// OutcomeSource: the destination does not run the guest and never will for this migration.
	OutcomeSource
	// OutcomeDestination: the destination took the guest over.
	OutcomeDestination
)

// resolveRetry is how often a source whose migration's outcome is unknown asks again.
const resolveRetry = 2 * time.Second

// Hold points: with the file Dir/hold-POINT present, a migration stops at that point until it is removed, and
// Dir/held-POINT names the domain held there. Tests use them to crash a daemon in a given phase; an operator
// may use them to study a migration.
const (
	HoldSend     = "send"     // source: recorded sending, nothing sent yet (the destination is prepared)
	HoldSent     = "sent"     // source: everything sent, the guest suspended, before the destination finishes
	HoldReceived = "received" // destination: holds the guest paused, before Finish
	HoldFinish   = "finish"   // destination: recorded the switch-over, before the guest runs
	HoldConfirm  = "confirm"  // source: the destination runs the guest, before the source's copy is destroyed
)

// hold waits at point while Dir/hold-POINT exists or until ctx ends.
func (m *Migrations) hold(ctx context.Context, point, uuid string) {
	if m == nil || m.Dir == "" {
		return
	}
	p := filepath.Join(m.Dir, "hold-"+point)
	if _, err := os.Stat(p); err != nil {
		return
	}
	held := filepath.Join(m.Dir, "held-"+point)
	_ = os.WriteFile(held, []byte(uuid+"\n"), 0o600)
	defer os.Remove(held)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(p); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Add registers job under the ID of the action that will carry it out.
func (m *Migrations) Add(actionID string, job *MigrationJob) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byAction == nil {
		m.byAction, m.byDomain = map[string]*MigrationJob{}, map[string]*MigrationJob{}
	}
	m.byAction[actionID] = job
	m.byDomain[strings.ToLower(job.UUID)] = job
}

// Remove forgets the job registered under actionID.
func (m *Migrations) Remove(actionID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j := m.byAction[actionID]; j != nil {
		delete(m.byAction, actionID)
		if m.byDomain[strings.ToLower(j.UUID)] == j {
			delete(m.byDomain, strings.ToLower(j.UUID))
		}
	}
}

// RemoveJob forgets job, under whatever action it was registered: the migration is over on this host, or its
// caller went away and the journal is to settle it.
func (m *Migrations) RemoveJob(job *MigrationJob) {
	if m == nil || job == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, j := range m.byAction {
		if j == job {
			delete(m.byAction, id)
		}
	}
	if m.byDomain[strings.ToLower(job.UUID)] == job {
		delete(m.byDomain, strings.ToLower(job.UUID))
	}
}

// Job returns the job of the domain with the given UUID, or nil.
func (m *Migrations) Job(uuid string) *MigrationJob {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byDomain[strings.ToLower(uuid)]
}

func (m *Migrations) byID(actionID string) *MigrationJob {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byAction[actionID]
}

// JournalEntry is the recorded phase of a migration of one domain.
type JournalEntry struct {
	UUID  string    `json:"uuid"`
	Name  string    `json:"name"`
	Role  string    `json:"role"`
	Phase string    `json:"phase"`
	Time  time.Time `json:"time"`
	// Peer and DestName are the source's: how to reach the destination's daemon, and the name there.
	Peer     string `json:"peer,omitempty"`
	DestName string `json:"dest_name,omitempty"`
	// Paused is the destination's, from its switch-over on: the guest stays paused (VIR_MIGRATE_PAUSED).
	Paused bool `json:"paused,omitempty"`
	// UndefineSource is the source's: its definition goes once the destination runs the guest.
	UndefineSource bool `json:"undefine_source,omitempty"`
}

// Entries returns every migration the journal records.
func (m *Migrations) Entries() []JournalEntry {
	if m == nil || m.Dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(m.Dir, "*.json"))
	var out []JournalEntry
	for _, f := range files {
		if e := m.Entry(strings.TrimSuffix(filepath.Base(f), ".json")); e != nil {
			out = append(out, *e)
		}
	}
	return out
}

// Sweep forgets, when the daemon starts, the incoming migrations interrupted before anything was built: no
// domain with their UUID exists (present reports one), so there is nothing to drop or to let run, and no object
// would ever reconcile them.
func (m *Migrations) Sweep(present func(uuid string) bool) {
	for _, e := range m.Entries() {
		if e.Role == MigrationDestination && e.Phase == PhaseReceiving && !present(e.UUID) {
			m.Clear(e.UUID)
		}
	}
}

func (m *Migrations) path(uuid string) string {
	return filepath.Join(m.Dir, strings.ToLower(uuid)+".json")
}

// Record writes the phase of a domain's migration durably (write, fsync, rename).
func (m *Migrations) Record(e JournalEntry) error {
	if m == nil || m.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return fmt.Errorf("migration journal: %w", err)
	}
	e.Time = time.Now().UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("migration journal: %w", err)
	}
	tmp := m.path(e.UUID) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("migration journal: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, m.path(e.UUID))
	}
	if err != nil {
		return fmt.Errorf("migration journal: %w", err)
	}
	return nil
}

// Entry reads the recorded phase of a domain's migration; nil when none is recorded.
func (m *Migrations) Entry(uuid string) *JournalEntry {
	if m == nil || m.Dir == "" {
		return nil
	}
	b, err := os.ReadFile(m.path(uuid))
	if err != nil {
		return nil
	}
	e := &JournalEntry{}
	if json.Unmarshal(b, e) != nil {
		return nil
	}
	return e
}

// Clear forgets a domain's migration.
func (m *Migrations) Clear(uuid string) {
	if m == nil || m.Dir == "" {
		return
	}
	if err := os.Remove(m.path(uuid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
}

func isMigrationVerb(v v1alpha1.ActionVerb) bool {
	switch v {
	case v1alpha1.VerbMigrateOut, v1alpha1.VerbMigrateIn, v1alpha1.VerbMigrateFinish, v1alpha1.VerbMigrateConfirm, v1alpha1.VerbMigrateCancel:
		return true
	}
	return false
}

// reconcileMigration carries out migration actions and keeps the rest of the reconcile away from a domain in
// the middle of one: a suspended source must be neither destroyed as shut down nor restarted, and a domain that
// left by migration stays off on this host, whatever its run strategy.
func (r *XenDomainReconciler) reconcileMigration(ctx context.Context, s *scope) error {
	a := s.obj.Spec.Action
	pending := a != nil && (s.obj.Status.LastAction == nil || s.obj.Status.LastAction.ID != a.ID)
	if pending && isMigrationVerb(a.Verb) {
		err := r.migrationAction(ctx, s, a)
		res := &v1alpha1.ActionResult{ID: a.ID, Verb: a.Verb, Time: metav1.NewTime(s.now)}
		if err != nil {
			res.Reason, res.Error = classify(err)
			s.log.Info("migration action failed", "action", a.Verb, "reason", res.Reason, "error", err.Error())
		}
		s.obj.Status.LastAction = res
		s.done = true
		if r.Migrations.Entry(uuidOf(s.obj)) != nil {
			s.requeueAfter(resolveRetry) // in flight, or interrupted (a restart lost its stream): look again
		}
		return nil
	}
	uuid := uuidOf(s.obj)
	if e := r.Migrations.Entry(uuid); e != nil && r.Migrations.Job(uuid) == nil {
		return r.recoverMigration(ctx, s, e)
	}
	if r.Migrations.Entry(uuid) != nil {
		s.done = true // in flight: its actions drive it; look again once they are gone
		s.requeueAfter(resolveRetry)
		return nil
	}
	if !pending && s.dom == nil && s.obj.Status.Stopped == stoppedMigrated {
		s.done = true // it runs elsewhere now
	}
	return nil
}

// recoverMigration settles a migration this daemon was in the middle of when it stopped (or whose caller went
// away). At every step the guest runs on at most one host, and the destination's record of the switch-over
// (phase finishing) is the commit point: a destination that had not recorded it drops its copy, one that had
// lets the guest run; a source whose stream was not complete resumes (no destination can have finished
// without it); a source that had sent everything asks the destination (Resolve) and resumes or destroys its
// suspended copy accordingly, asking again while the destination cannot tell.
func (r *XenDomainReconciler) recoverMigration(ctx context.Context, s *scope, e *JournalEntry) error {
	uuid := uuidOf(s.obj)
	switch {
	case e.Role == MigrationDestination && (e.Phase == PhaseReceiving || e.Phase == PhaseReceived):
		if s.dom != nil {
			s.log.Info("incoming migration interrupted: dropping the received domain", "phase", e.Phase)
			if err := r.destroy(ctx, s, DetailStoppedFailed); err != nil {
				return err
			}
			s.stopReason = "failed"
		}
		r.Migrations.Clear(uuid)
		if s.obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindTransient && s.obj.Status.StartedAt == nil {
			// Prepare made it for the migration alone: it goes with it.
			if err := r.Client.Delete(ctx, s.obj); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("remove the object of an interrupted incoming migration: %w", err)
			}
			s.done = true
		}
	case e.Role == MigrationDestination: // finishing: the switch-over was decided, the guest runs here
		if s.dom != nil && s.dom.Info.State == libxl.StatePaused && !e.Paused {
			s.log.Info("incoming migration interrupted in its switch-over: letting the guest run")
			if s.obj.Spec.Paused { // an object adopted after a restart describes the guest as it found it
				if err := r.Client.Patch(ctx, s.obj, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":null}}`))); err != nil {
					return fmt.Errorf("finish interrupted migration: %w", err)
				}
			}
			if err := r.HV.UnpauseDomain(ctx, s.dom.Info.DomID); err != nil {
				return fmt.Errorf("finish interrupted migration: %w", err)
			}
			s.orig.State, s.orig.Reason = v1alpha1.StateRunning, "migrated"
			r.Events.emit(s, EventResumed, DetailResumedMigrated)
			if _, err := r.refresh(ctx, s); err != nil {
				s.log.Error(err, "read the domain after the switch-over")
			}
		}
		r.Migrations.Clear(uuid)
	case e.Role == MigrationSource && e.Phase == PhaseSending:
		if s.dom != nil && s.dom.Info.State == libxl.StateShutdown && s.dom.Info.ShutdownReason == libxl.ShutdownSuspend {
			if err := r.resumeSource(ctx, s); err != nil {
				return err
			}
		}
		r.Migrations.Clear(uuid)
	default: // a source that sent everything: ask the destination
		s.done = true
		return r.settleSource(ctx, s, e)
	}
	return nil
}

// settleSource ends the source's side of a migration whose stream was complete, from the destination's answer.
func (r *XenDomainReconciler) settleSource(ctx context.Context, s *scope, e *JournalEntry) error {
	if e.Peer == "" || r.Migrations.Resolve == nil {
		s.log.Info("migration interrupted after the guest was sent; the destination is unknown, the guest stays suspended here until confirmed, cancelled or resumed")
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	out, err := r.Migrations.Resolve(rctx, *e)
	cancel()
	switch out {
	case OutcomeDestination:
		s.log.Info("interrupted migration: the destination runs the guest, destroying the copy here", "peer", e.Peer)
		if err := r.migrateConfirm(ctx, s); err != nil {
			return err
		}
		switch {
		case s.obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindTransient:
			// The confirm's caller would have forgotten it (libvirt forgets a transient domain that left).
			if err := r.Client.Delete(ctx, s.obj); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("remove the transient domain that migrated away: %w", err)
			}
		case e.UndefineSource && r.Migrations.Undefine != nil:
			s.log.Info("interrupted migration: undefining the domain here, as its migration asked (UNDEFINE_SOURCE)")
			if err := r.Migrations.Undefine(ctx, s.obj); err != nil {
				return fmt.Errorf("undefine the domain that migrated away: %w", err)
			}
		}
		return nil
	case OutcomeSource:
		s.log.Info("interrupted migration: the destination does not run the guest, resuming it here", "peer", e.Peer)
		r.Migrations.Clear(uuidOf(s.obj))
		if s.dom != nil && s.dom.Info.State == libxl.StateShutdown && s.dom.Info.ShutdownReason == libxl.ShutdownSuspend {
			return r.resumeSource(ctx, s)
		}
		return nil
	}
	s.log.Info("interrupted migration: its outcome is not known yet, the guest stays suspended here", "peer", e.Peer, "error", errorString(err))
	s.requeueAfter(resolveRetry)
	return nil
}

func errorString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// migrator is the migration half of the hypervisor port.
func (r *XenDomainReconciler) migrator() (libxl.Migrator, error) {
	m, ok := r.HV.(libxl.Migrator)
	if !ok {
		return nil, failf(v1alpha1.FailureOperationInvalid, "this hypervisor cannot migrate domains")
	}
	return m, nil
}

func (r *XenDomainReconciler) migrationAction(ctx context.Context, s *scope, a *v1alpha1.DomainAction) error {
	switch a.Verb {
	case v1alpha1.VerbMigrateOut:
		return r.migrateOut(ctx, s, a)
	case v1alpha1.VerbMigrateIn:
		return r.migrateIn(ctx, s, a)
	case v1alpha1.VerbMigrateFinish:
		return r.migrateFinish(ctx, s)
	case v1alpha1.VerbMigrateConfirm:
		return r.migrateConfirm(ctx, s)
	}
	return r.migrateCancel(ctx, s)
}
