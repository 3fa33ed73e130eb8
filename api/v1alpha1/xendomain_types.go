package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// XenDomain is the desired state of one Xen domain and what was last observed of it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=xd;xdom,categories=virtxend
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`,priority=1
// +kubebuilder:printcolumn:name="Run",type=string,JSONPath=`.spec.runStrategy`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="ID",type=integer,JSONPath=`.status.domid`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type XenDomain struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   XenDomainSpec   `json:"spec"`
	Status XenDomainStatus `json:"status,omitempty"`
}

// XenDomainList is a list of XenDomain.
//
// +kubebuilder:object:root=true
type XenDomainList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []XenDomain `json:"items"`
}

// XenDomainSpec is the desired state of a domain.
type XenDomainSpec struct {
	// Domain is the domain definition: what libvirt's domain XML says, for everything Xen honours.
	Domain DomainSpec `json:"domain"`

	// RunStrategy says when the domain should run.
	// +kubebuilder:default=Always
	// +optional
	RunStrategy RunStrategy `json:"runStrategy,omitempty"`

	// Autostart starts the domain once per host boot when the daemon starts (libvirt's autostart). It matters
	// for RunStrategy Manual; Always runs the domain anyway.
	// +optional
	Autostart bool `json:"autostart,omitempty"`

	// NodeName pins the domain to one Xen host in fleet mode. Empty in local mode.
	// +optional
	NodeName string `json:"nodeName,omitempty"`

	// DriftPolicy says what to do when the running domain departs from its spec behind the daemon's back.
	// +kubebuilder:default=Enforce
	// +optional
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// Paused keeps the running domain paused (virsh suspend sets it, virsh resume clears it).
	// +optional
	Paused bool `json:"paused,omitempty"`

	// Action is a one-shot lifecycle request, acted on once: the facade sets it for virsh start, shutdown,
	// reboot, reset and destroy, with a new ID each time, and waits for status.lastAction to report that ID.
	// It complements RunStrategy: Manual domains run and stop only through actions.
	// +optional
	Action *DomainAction `json:"action,omitempty"`
}

// DomainAction is a one-shot lifecycle request.
type DomainAction struct {
	// ID identifies the request; a new request has a new ID.
	// +kubebuilder:validation:MinLength=1
	ID string `json:"id"`
	// Verb is what to do.
	Verb ActionVerb `json:"verb"`
	// GracePeriodSeconds bounds a graceful shutdown before the domain is destroyed; 0 means wait forever
	// (virsh shutdown never forces).
	// +optional
	// +kubebuilder:validation:Minimum=0
	GracePeriodSeconds int32 `json:"gracePeriodSeconds,omitempty"`
	// Path is the image file of Save, Restore and CoreDump.
	// +optional
	Path string `json:"path,omitempty"`
	// Live dumps core without pausing the domain (CoreDump).
	// +optional
	Live bool `json:"live,omitempty"`
	// Crash destroys the domain after its core dump (CoreDump).
	// +optional
	Crash bool `json:"crash,omitempty"`
	// Definition is the live definition SetLive asks for: the running domain is brought to it where Xen can
	// change a running domain (memory, online vcpus, disks and network interfaces), and it becomes the domain's
	// live definition. The spec, the persistent definition, is not touched.
	// +optional
	Definition *DomainSpec `json:"definition,omitempty"`
	// Sched are the scheduler parameters SetLive sets on the running domain (libvirt keeps them nowhere else).
	// +optional
	Sched *SchedSettings `json:"sched,omitempty"`
}

// SchedSettings are credit scheduler parameters; unset fields are left as they are.
type SchedSettings struct {
	// Weight is the credit weight; 0 leaves it.
	// +optional
	Weight uint32 `json:"weight,omitempty"`
	// Cap is the credit cap in percent of one cpu (0: no cap); nil leaves it.
	// +optional
	Cap *uint32 `json:"cap,omitempty"`
}

// ActionVerb is a lifecycle request.
// +kubebuilder:validation:Enum=Start;Shutdown;Reboot;Reset;Destroy;Save;Restore;CoreDump;SetLive;MigrateOut;MigrateIn;MigrateFinish;MigrateConfirm;MigrateCancel
type ActionVerb string

// Action verbs.
const (
	// VerbStart starts a stopped domain (paused if spec.paused is set).
	VerbStart ActionVerb = "Start"
	// VerbShutdown asks the guest to power off.
	VerbShutdown ActionVerb = "Shutdown"
	// VerbReboot asks the guest to reboot.
	VerbReboot ActionVerb = "Reboot"
	// VerbReset destroys and re-creates the domain at once.
	VerbReset ActionVerb = "Reset"
	// VerbDestroy kills the domain at once.
	VerbDestroy ActionVerb = "Destroy"
	// VerbSave writes the running domain to the image at Path (libvirt's save format) and stops it.
	VerbSave ActionVerb = "Save"
	// VerbRestore starts the domain from the image at Path (paused if spec.paused is set).
	VerbRestore ActionVerb = "Restore"
	// VerbCoreDump writes the domain's memory to Path.
	VerbCoreDump ActionVerb = "CoreDump"
	// VerbSetLive changes the running domain and its live definition only (libvirt's --live): see
	// DomainAction.Definition and DomainAction.Sched.
	VerbSetLive ActionVerb = "SetLive"
	// VerbMigrateOut sends the running domain to the migration stream the daemon holds under the action's ID
	// and leaves it suspended until VerbMigrateConfirm or VerbMigrateCancel.
	VerbMigrateOut ActionVerb = "MigrateOut"
	// VerbMigrateIn creates the domain, paused, from the incoming migration stream held under the action's ID.
	VerbMigrateIn ActionVerb = "MigrateIn"
	// VerbMigrateFinish takes over an incoming domain: it runs unless spec.paused is set.
	VerbMigrateFinish ActionVerb = "MigrateFinish"
	// VerbMigrateConfirm ends an outgoing migration that succeeded: the suspended domain is destroyed and the
	// domain is stopped with reason migrated.
	VerbMigrateConfirm ActionVerb = "MigrateConfirm"
	// VerbMigrateCancel rolls a migration back: the source resumes its suspended domain, the destination
	// destroys the domain it received.
	VerbMigrateCancel ActionVerb = "MigrateCancel"
)

// ActionResult reports how a DomainAction ended.
type ActionResult struct {
	ID   string     `json:"id"`
	Verb ActionVerb `json:"verb"`
	// Error is empty when the action succeeded. For a failure with a Reason it is libvirt's wording of the
	// failure, without the prefix of libvirt's error code.
	// +optional
	Error string `json:"error,omitempty"`
	// Reason classifies a failure, for clients that decide on it (the libvirt facade maps it to libvirt's error
	// code); empty when the action succeeded.
	// +optional
	Reason ActionFailure `json:"reason,omitempty"`
	// Time is when the action finished.
	Time metav1.Time `json:"time"`
}

// RunStrategy says when a domain should run.
// +kubebuilder:validation:Enum=Always;RerunOnFailure;Manual;Halted
type RunStrategy string

// Run strategies.
const (
	// RunStrategyAlways keeps the domain running: it is started, and restarted after it stops or crashes, with
	// crash-loop backoff.
	RunStrategyAlways RunStrategy = "Always"
	// RunStrategyRerunOnFailure starts the domain and restarts it after a crash, not after a clean power-off.
	RunStrategyRerunOnFailure RunStrategy = "RerunOnFailure"
	// RunStrategyManual starts and stops the domain only on request (what `virsh define` gives).
	RunStrategyManual RunStrategy = "Manual"
	// RunStrategyHalted keeps the domain stopped.
	RunStrategyHalted RunStrategy = "Halted"
)

// DriftPolicy says what to do with drift.
// +kubebuilder:validation:Enum=Enforce;Report
type DriftPolicy string

// Drift policies.
const (
	// DriftPolicyEnforce puts the domain back to its spec.
	DriftPolicyEnforce DriftPolicy = "Enforce"
	// DriftPolicyReport only reports drift in the Drifted condition.
	DriftPolicyReport DriftPolicy = "Report"
)

// XenDomainStatus is the observed state of a domain. Only the reconciler writes it.
type XenDomainStatus struct {
	// State is the libvirt domain state.
	// +optional
	State DomainState `json:"state,omitempty"`
	// Reason is the libvirt reason for State, e.g. "booted", "user", "crashed".
	// +optional
	Reason string `json:"reason,omitempty"`
	// DomID is the Xen domain id while the domain exists on the host.
	// +optional
	DomID *int32 `json:"domid,omitempty"`
	// UUID is the domain's UUID as the hypervisor reports it.
	// +optional
	UUID string `json:"uuid,omitempty"`
	// NodeName is, in fleet mode, the node whose host holds the domain: set while the domain exists there,
	// cleared once it is shut off there. While it names a node, no other node starts the domain and spec.nodeName
	// may not move elsewhere (the node also holds the object by its finalizer, added right before the start).
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// ObservedGeneration is the spec generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Progressing, Degraded, Drifted, RestartRequired.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastError is the last error met while reconciling, empty once resolved.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// RestartCount counts restarts after the domain stopped or crashed unrequested.
	// +optional
	RestartCount int32 `json:"restartCount,omitempty"`
	// BackoffUntil is when the next restart of a crash-looping domain may happen.
	// +optional
	BackoffUntil *metav1.Time `json:"backoffUntil,omitempty"`
	// LastAction reports the last spec.action handled.
	// +optional
	LastAction *ActionResult `json:"lastAction,omitempty"`
	// Stopped records why a domain that should not be restarted is down: "poweroff" (a clean guest
	// power-off or a shutdown action), "destroyed", "crashed" or "saved"; empty otherwise. A saved domain is
	// not restarted by any run strategy: its image is meant to be restored.
	// +optional
	Stopped string `json:"stopped,omitempty"`
	// StartedAt is when the current run of the domain began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
}

// DomainState is libvirt's domain state vocabulary (virDomainState).
// +kubebuilder:validation:Enum=nostate;running;blocked;paused;shutdown;shutoff;crashed;pmsuspended
type DomainState string

// Domain states.
const (
	StateNoState     DomainState = "nostate"
	StateRunning     DomainState = "running"
	StateBlocked     DomainState = "blocked"
	StatePaused      DomainState = "paused"
	StateShutdown    DomainState = "shutdown"
	StateShutoff     DomainState = "shutoff"
	StateCrashed     DomainState = "crashed"
	StatePMSuspended DomainState = "pmsuspended"
)

// Condition types.
const (
	// ConditionReady is true while the domain is in the state its spec asks for.
	ConditionReady = "Ready"
	// ConditionProgressing is true while the reconciler is moving the domain towards its spec.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is true when the spec cannot be met (invalid spec, start failure, crash loop).
	ConditionDegraded = "Degraded"
	// ConditionDrifted is true when the running domain departs from its live definition.
	ConditionDrifted = "Drifted"
	// ConditionRestartRequired is true when the spec differs from what the running domain was started with in
	// fields Xen cannot change on a running domain; the message names them. They apply at the next start.
	ConditionRestartRequired = "RestartRequired"
)

// Condition reasons.
const (
	ReasonRunning       = "Running"
	ReasonStopped       = "Stopped"
	ReasonStarting      = "Starting"
	ReasonStopping      = "Stopping"
	ReasonInvalidSpec   = "InvalidSpec"
	ReasonStartFailed   = "StartFailed"
	ReasonCrashLoop     = "CrashLoopBackOff"
	ReasonDriftDetected = "DriftDetected"
	ReasonNoDrift       = "NoDrift"
	ReasonSourceError   = "SourceError"
	ReasonObserving     = "Observing"
	ReasonAsExpected    = "AsExpected"
	ReasonPendingFields = "FieldsAwaitRestart"
	ReasonUpToDate      = "UpToDate"
)
