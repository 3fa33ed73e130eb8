package controllers

import "testing"

// TestDecodeMarker: the owner is found by the domain UUID; markers written before the UUID was recorded carry
// only the uid, which local sources made equal to the domain UUID.
func TestDecodeMarker(t *testing.T) {
	for _, c := range []struct {
		name, in, wantUUID string
		wantErr            bool
	}{
		{"uuid", `{"uuid":"6A1D2C3E-7F40-4B5A-9C61-2E8F0D4B7A10","uid":"f00","name":"web"}`, "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10", false},
		{"uid only (older marker)", `{"uid":"6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10","name":"web"}`, "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10", false},
		{"neither", `{"name":"web"}`, "", true},
		{"not json", `xl`, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := decodeMarker([]byte(c.in))
			if (err != nil) != c.wantErr || m.UUID != c.wantUUID {
				t.Errorf("decodeMarker(%s) = %+v, %v; want uuid %q, error %v", c.in, m, err, c.wantUUID, c.wantErr)
			}
		})
	}
}
