package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// MarkerKey is the libxl userdata key under which virtxend stores its ownership marker. libxl keeps userdata
// per domain, so the marker outlives the daemon exactly as long as the domain lives.
const MarkerKey = "virtxend"

// Marker says which object a domain belongs to and which version of its spec it runs.
type Marker struct {
	// UID is the owning object's UID.
	UID types.UID `json:"uid"`
	// Name is the object's name when the domain was created (informational: adoption is by UID).
	Name string `json:"name"`
	// Generation is the object generation last applied to the running domain.
	Generation int64 `json:"generation"`
	// SpecHash is the hash of the domain definition the domain was built from.
	SpecHash string `json:"specHash"`
	// Source is the kind of source the object came from (file, define, transient).
	Source string `json:"source,omitempty"`
	// Paused is spec.paused as last applied.
	Paused bool `json:"paused,omitempty"`
}

// applied reports whether the marker records obj's current desired state. Generations restart at 1 when the
// daemon reloads its objects, so this compares what was applied (spec hash, paused), not generations.
func (m *Marker) applied(obj *v1alpha1.XenDomain) bool {
	return m.SpecHash == SpecHash(&obj.Spec.Domain) && m.Paused == obj.Spec.Paused
}

func (m Marker) encode() []byte {
	b, _ := json.Marshal(m)
	return b
}

func decodeMarker(b []byte) (Marker, error) {
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return Marker{}, fmt.Errorf("decode ownership marker: %w", err)
	}
	if m.UID == "" {
		return Marker{}, fmt.Errorf("decode ownership marker: no uid")
	}
	return m, nil
}

// SpecHash returns a short stable hash of a domain definition.
func SpecHash(d *v1alpha1.DomainSpec) string {
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func newMarker(obj *v1alpha1.XenDomain) Marker {
	return Marker{
		UID:        obj.UID,
		Name:       obj.Name,
		Generation: obj.Generation,
		SpecHash:   SpecHash(&obj.Spec.Domain),
		Source:     obj.Labels[v1alpha1.LabelSource],
		Paused:     obj.Spec.Paused,
	}
}
