package controllers

import (
	"errors"
	"fmt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// ActionError is the failure of a one-shot action in libvirt's words (Msg, without the prefix of libvirt's error
// code), with its class. reconcileAction reports both in status.lastAction, so that the facade answers with
// libvirt's code without reading the text.
type ActionError struct {
	Failure v1alpha1.ActionFailure
	Msg     string
	// Err is the cause, when there is one.
	Err error
}

func (e *ActionError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *ActionError) Unwrap() error { return e.Err }

// failf returns an ActionError of class f with a formatted message and no cause.
func failf(f v1alpha1.ActionFailure, format string, args ...any) error {
	return &ActionError{Failure: f, Msg: fmt.Sprintf(format, args...)}
}

// Errors of actions that found the domain in the wrong state, in the words of libvirt's checks.
var (
	errAlreadyRunning = &ActionError{Failure: v1alpha1.FailureAlreadyRunning, Msg: "Domain is already running"}
	errNotRunning     = &ActionError{Failure: v1alpha1.FailureNotRunning, Msg: "domain is not running"}
)

// classify returns the class of an action's error and the message to report: an ActionError's own, a build
// error's libvirt wording, and the error text for the rest (hypervisor failures).
func classify(err error) (v1alpha1.ActionFailure, string) {
	var ae *ActionError
	var be *libxl.BuildError
	switch {
	case errors.As(err, &ae):
		return ae.Failure, ae.Error()
	case errors.As(err, &be):
		switch {
		case errors.Is(be, libxl.ErrNoNetwork):
			return v1alpha1.FailureNetworkNotFound, be.Msg
		case errors.Is(be, libxl.ErrNoStoragePool):
			return v1alpha1.FailureStoragePoolNotFound, be.Msg
		case errors.Is(be, libxl.ErrNoStorageVol):
			return v1alpha1.FailureStorageVolNotFound, be.Msg
		case errors.Is(be, libxl.ErrDriverUnavailable):
			return v1alpha1.FailureDriverUnavailable, be.Msg
		case errors.Is(be, libxl.ErrUnsupportedConfig):
			return v1alpha1.FailureUnsupportedConfig, be.Msg
		case errors.Is(be, libxl.ErrOperationInvalid):
			return v1alpha1.FailureOperationInvalid, be.Msg
		}
		return v1alpha1.FailureInvalidConfig, be.Msg
	case errors.Is(err, libxl.ErrNoMemory):
		return v1alpha1.FailureNoMemory, err.Error()
	case errors.Is(err, libxl.ErrNoDomain):
		return v1alpha1.FailureNotRunning, errNotRunning.Msg
	}
	return v1alpha1.FailureHypervisorError, err.Error()
}
