package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMigrationJournal: phases are recorded durably per domain, listed, swept when an incoming migration left
// nothing behind, and cleared; a job is forgotten by pointer whatever action it was registered under.
func TestMigrationJournal(t *testing.T) {
	m := &Migrations{Dir: filepath.Join(t.TempDir(), "migrations")}
	const a, b, c = "0b6b4f6e-0000-4000-8000-00000000000a", "0b6b4f6e-0000-4000-8000-00000000000b", "0b6b4f6e-0000-4000-8000-00000000000c"
	for _, e := range []JournalEntry{
		{UUID: a, Name: "a", Role: MigrationSource, Phase: PhaseSent, Peer: "xen+unix:///system?socket=/x", DestName: "a2"},
		{UUID: b, Name: "b", Role: MigrationDestination, Phase: PhaseReceiving},
		{UUID: c, Name: "c", Role: MigrationDestination, Phase: PhaseReceiving},
	} {
		if err := m.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if e := m.Entry(a); e == nil || e.Peer != "xen+unix:///system?socket=/x" || e.DestName != "a2" || e.Phase != PhaseSent || e.Time.IsZero() {
		t.Fatalf("entry of a: %+v", e)
	}
	if n := len(m.Entries()); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	// b's domain exists (something was built: its object's recovery drops it); c left nothing.
	m.Sweep(func(u string) bool { return u == b })
	if m.Entry(b) == nil || m.Entry(c) != nil || m.Entry(a) == nil {
		t.Fatalf("after the sweep: a %v, b %v, c %v", m.Entry(a), m.Entry(b), m.Entry(c))
	}
	m.Clear(a)
	if m.Entry(a) != nil {
		t.Fatal("a cleared entry is still there")
	}

	job := NewMigrationJob(a, "a")
	m.Add("act-1", job)
	m.Add("act-2", job)
	if m.Job(a) != job || m.byID("act-2") != job {
		t.Fatal("the job is not registered")
	}
	m.RemoveJob(job)
	if m.Job(a) != nil || m.byID("act-1") != nil || m.byID("act-2") != nil {
		t.Fatal("RemoveJob left the job registered")
	}
}

// TestMigrationHold: a migration waits at a point while its hold file exists, naming its domain in the held
// file, and goes on once the file goes.
func TestMigrationHold(t *testing.T) {
	m := &Migrations{Dir: t.TempDir()}
	m.hold(context.Background(), HoldSend, "u") // no hold file: no wait
	if err := os.WriteFile(filepath.Join(m.Dir, "hold-"+HoldSend), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); m.hold(context.Background(), HoldSend, "u") }()
	held := filepath.Join(m.Dir, "held-"+HoldSend)
	for {
		if b, err := os.ReadFile(held); err == nil && string(b) == "u\n" {
			break
		}
		select {
		case <-done:
			t.Fatal("the hold returned while its file exists")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := os.Remove(filepath.Join(m.Dir, "hold-"+HoldSend)); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := os.Stat(held); !os.IsNotExist(err) {
		t.Errorf("the held file outlived the hold: %v", err)
	}
}
