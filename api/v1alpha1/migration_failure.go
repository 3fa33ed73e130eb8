package v1alpha1

// Failure classes of the migration actions.
const (
	// FailureMigrationFailed: the migration could not go on (the stream broke, the domain is not on the
	// destination, the stream is not a migration stream).
	FailureMigrationFailed ActionFailure = "MigrationFailed"
	// FailureAborted: the migration was aborted (virsh domjobabort) before the switch-over.
	FailureAborted ActionFailure = "Aborted"
)
