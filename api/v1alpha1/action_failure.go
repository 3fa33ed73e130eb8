package v1alpha1

// ActionFailure says why a DomainAction failed, as a closed vocabulary: the reconciler classifies the error of the
// action, and the libvirt facade maps each value to one libvirt error code, so that no layer reads the other's
// error text.
// +kubebuilder:validation:Enum=AlreadyRunning;NotRunning;InvalidConfig;UnsupportedConfig;OperationInvalid;NoMemory;NetworkNotFound;StoragePoolNotFound;StorageVolNotFound;DriverUnavailable;NameInUse;SaveFile;BadImage;HypervisorError
type ActionFailure string

// Action failures.
const (
	// FailureAlreadyRunning: a start or restore found the domain running.
	FailureAlreadyRunning ActionFailure = "AlreadyRunning"
	// FailureNotRunning: an action on a running domain found it stopped.
	FailureNotRunning ActionFailure = "NotRunning"
	// FailureInvalidConfig: the definition cannot be turned into a libxl configuration for a reason libvirt
	// reports as an internal error (a disk format libxl lacks, for example). Retrying cannot help; a new
	// definition can.
	FailureInvalidConfig ActionFailure = "InvalidConfig"
	// FailureUnsupportedConfig: the definition asks for something the libxl driver does not support.
	FailureUnsupportedConfig ActionFailure = "UnsupportedConfig"
	// FailureOperationInvalid: the action is not valid in the domain's state or with its definition (saving a
	// paused domain, for example).
	FailureOperationInvalid ActionFailure = "OperationInvalid"
	// FailureNoMemory: the host has not enough free memory for the domain.
	FailureNoMemory ActionFailure = "NoMemory"
	// FailureNetworkNotFound: an <interface type='network'> names a network that cannot be resolved.
	FailureNetworkNotFound ActionFailure = "NetworkNotFound"
	// FailureStoragePoolNotFound: a <disk type='volume'> names a storage pool the storage driver does not know.
	FailureStoragePoolNotFound ActionFailure = "StoragePoolNotFound"
	// FailureStorageVolNotFound: a <disk type='volume'> names a volume its pool does not have.
	FailureStorageVolNotFound ActionFailure = "StorageVolNotFound"
	// FailureDriverUnavailable: the network or storage driver a device needs cannot be reached (no daemon
	// serves it).
	FailureDriverUnavailable ActionFailure = "DriverUnavailable"
	// FailureNameInUse: a domain virtxend does not manage holds the name on the hypervisor.
	FailureNameInUse ActionFailure = "NameInUse"
	// FailureSaveFile: a save or dump image could not be written, or a restore image read.
	FailureSaveFile ActionFailure = "SaveFile"
	// FailureBadImage: a restore image is not a libvirt Xen save image.
	FailureBadImage ActionFailure = "BadImage"
	// FailureHypervisorError: the hypervisor refused or failed the operation.
	FailureHypervisorError ActionFailure = "HypervisorError"
)
