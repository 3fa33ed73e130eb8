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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

	mu       sync.Mutex
	byAction map[string]*MigrationJob
	byDomain map[string]*MigrationJob
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
		return nil
	}
	uuid := uuidOf(s.obj)
	if e := r.Migrations.Entry(uuid); e != nil && r.Migrations.Job(uuid) == nil {
		return r.recoverMigration(ctx, s, e)
	}
	if r.Migrations.Entry(uuid) != nil {
		s.done = true // in flight: its actions drive it
		return nil
	}
	if !pending && s.dom == nil && s.obj.Status.Stopped == stoppedMigrated {
		s.done = true // it runs elsewhere now
	}
	return nil
}

// recoverMigration settles a migration this daemon was in the middle of when it stopped. At every step the
// guest runs on at most one host: a destination that had not switched over drops its copy (the source then
// resumes on its caller's cancel), and a source whose stream was not complete resumes. A source that had sent
// everything cannot tell whether the destination took over, so it keeps the guest suspended (paused, reason
// migration) for a confirm, a cancel, or an operator's resume.
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
	case e.Role == MigrationDestination: // finishing: the switch-over happened if the guest runs
		if s.dom != nil && s.dom.Info.State == libxl.StatePaused && !s.obj.Spec.Paused {
			if err := r.HV.UnpauseDomain(ctx, s.dom.Info.DomID); err != nil {
				return fmt.Errorf("finish interrupted migration: %w", err)
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
	default: // a source that sent everything: wait for confirm or cancel
		s.done = true
	}
	return nil
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
