//go:build xenlight

package xenlight

import (
	"errors"
	"fmt"
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		code int
		want error // nil: no sentinel
	}{
		{errDomainNotfound, libxl.ErrNoDomain},
		{errDomainDestroyed, libxl.ErrNoDomain},
		{errNomem, libxl.ErrNoMemory},
		{errInval, libxl.ErrInvalid},
		{errJSONConfigEmpty, libxl.ErrInvalid},
		{errVnumaConfigInvalid, libxl.ErrInvalid},
		{errParse, libxl.ErrInvalid},
		{errDeviceExists, libxl.ErrDevExists},
		{errNotfound, libxl.ErrNoDevice},
		{errQMPDeviceNotFound, libxl.ErrNoDevice},
		{errNoparavirt, libxl.ErrBadState},
		{errFail, nil},
		{errNonspecific, nil},
		{errTimedout, nil},
		{-77, nil},
	}
	sentinels := []error{libxl.ErrNoDomain, libxl.ErrNoMemory, libxl.ErrBadState, libxl.ErrDom0, libxl.ErrNoUserdata,
		libxl.ErrNoDevice, libxl.ErrDevExists, libxl.ErrInvalid}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			err := fmt.Errorf("pause: domain 3: %w", newError("libxl_domain_pause", tt.code))
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			var xe *Error
			if !errors.As(err, &xe) || xe.Code != tt.code || xe.Op != "libxl_domain_pause" {
				t.Errorf("errors.As: %+v", xe)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{errDomainNotfound, "libxl_domain_info: domain not found (libxl error -21)"},
		{errParse, "libxl_domain_info: libxl cannot parse the JSON (libxl error -1000)"},
		{-77, "libxl_domain_info: unknown error (libxl error -77)"},
	}
	for _, tt := range tests {
		if got := newError("libxl_domain_info", tt.code).Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
