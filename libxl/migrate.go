package libxl

import (
	"context"
	"io"
)

// Reader is the read-only half of the hypervisor port: what the facade, metrics and the observer may call. It
// has no method that changes a domain, so holding a Reader is holding no power over the guests.
type Reader interface {
	HostInfo(ctx context.Context) (HostInfo, error)
	ListDomains(ctx context.Context) ([]DomainInfo, error)
	DomainInfo(ctx context.Context, domid DomID) (DomainInfo, error)
	VcpuInfo(ctx context.Context, domid DomID) ([]VcpuInfo, error)
	SchedParams(ctx context.Context, domid DomID) (SchedParams, error)
	ConsolePath(ctx context.Context, domid DomID, kind ConsoleKind, n int) (string, error)
	Userdata(ctx context.Context, domid DomID, key string) ([]byte, error)
	Events(ctx context.Context) (<-chan Event, error)
}

var _ Reader = Hypervisor(nil)

// MigrationStreamVersion is the version of the migration stream a Migrator sends and the newest it receives
// (libxl's LIBXL_SAVE_VERSION, which libvirt puts in its <libxl-migration> cookie).
const MigrationStreamVersion = 2

// Migrator is the migration half of the port: it moves a domain's state between hosts over a byte stream (a
// TCP connection, or a pipe feeding a libvirt tunnel). Only the reconciler calls it, like the mutating methods.
type Migrator interface {
	// SendDomain sends a running domain's state to w, as libxl_domain_suspend with LIBXL_SUSPEND_LIVE does: with
	// opts.Live the guest keeps running while its memory is copied in rounds, then it is suspended for the last
	// round. On success the domain is left suspended, neither running nor destroyed: the caller destroys it once
	// the destination has taken over, or resumes it with ResumeDomain. On failure the domain runs again.
	SendDomain(ctx context.Context, domid DomID, w io.Writer, opts SendOptions) error
	// ReceiveDomain creates a domain from a stream SendDomain wrote, with cfg as its configuration; the domain is
	// left paused (libxl_domain_create_restore with the stream's version). An incomplete stream fails with
	// ErrInvalid and leaves nothing behind.
	ReceiveDomain(ctx context.Context, cfg *DomainConfig, r io.Reader, opts ReceiveOptions) (DomID, error)
	// ResumeDomain lets a domain SendDomain left suspended run again (libxl_domain_resume, cooperative).
	ResumeDomain(ctx context.Context, domid DomID) error
}

// SendOptions modify SendDomain.
type SendOptions struct {
	// Live copies memory while the guest runs (LIBXL_SUSPEND_LIVE); without it the guest is suspended first.
	Live bool
	// Progress, when set, is told of each round of the copy.
	Progress func(MigrationProgress)
}

// ReceiveOptions modify ReceiveDomain.
type ReceiveOptions struct {
	CreateOptions
	// StreamVersion is the version the source announced (libvirt's cookie); 0 means MigrationStreamVersion.
	StreamVersion int
}

// MigrationProgress is how far a SendDomain has got.
type MigrationProgress struct {
	// Iteration is the pre-copy round, from 1; the final round runs with the guest suspended.
	Iteration int
	// Processed is the bytes sent so far; Remaining the memory still to send in this round.
	Processed, Remaining uint64
	// Total is the guest's memory in bytes.
	Total uint64
	// Suspended is set once the guest is suspended for the final round.
	Suspended bool
}
