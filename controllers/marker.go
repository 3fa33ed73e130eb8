package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// MarkerKey is the libxl userdata key under which virtxend stores its ownership marker. libxl keeps userdata
// per domain, so the marker outlives the daemon exactly as long as the domain lives.
const MarkerKey = "virtxend"

// Marker says which object a domain belongs to and which version of its spec it runs.
type Marker struct {
	// UUID is the domain's identity (XenDomain.DomainUUID): the owner is the object with this domain UUID,
	// whichever source or API server holds it and whatever its metadata.uid.
	UUID string `json:"uuid,omitempty"`
	// UID is the owning object's UID when the domain was created (informational, as Name is: an API server
	// assigns UIDs, so a re-created object has another). Markers written before UUID existed carry only it, and
	// there it equals the domain UUID (local sources made the two equal).
	UID types.UID `json:"uid"`
	// Name is the object's name when the domain was created (informational: adoption is by UUID).
	Name string `json:"name"`
	// Generation is the object generation last applied to the running domain.
	Generation int64 `json:"generation"`
	// SpecHash is the hash of the domain definition the domain was built from.
	SpecHash string `json:"specHash"`
	// Source is the kind of source the object came from (file, define, transient).
	Source string `json:"source,omitempty"`
	// Paused is spec.paused as last applied.
	Paused bool `json:"paused,omitempty"`
	// Disks and Nics are the hot-pluggable devices the domain has as virtxend last applied them (disk vdevs, NIC
	// MAC addresses); nil in markers of a version that did not record them, whose devices are left alone.
	Disks []string `json:"disks,omitempty"`
	Nics  []string `json:"nics,omitempty"`
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
	if m.UUID == "" {
		m.UUID = string(m.UID)
	}
	u, ok := v1alpha1.CanonicalUUID(m.UUID)
	if !ok {
		return Marker{}, fmt.Errorf("decode ownership marker: no domain uuid")
	}
	m.UUID = u
	return m, nil
}

// deviceKeys lists the hot-pluggable devices of cfg by the keys libxl identifies them with.
func deviceKeys(cfg *libxl.DomainConfig) (disks, nics []string) {
	disks, nics = []string{}, []string{}
	if cfg == nil {
		return disks, nics
	}
	for _, d := range cfg.Disks {
		disks = append(disks, d.Vdev)
	}
	for _, n := range cfg.Nics {
		nics = append(nics, n.Mac)
	}
	return disks, nics
}

// SpecHash returns a short stable hash of a domain definition.
func SpecHash(d *v1alpha1.DomainSpec) string {
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func newMarker(obj *v1alpha1.XenDomain, cfg *libxl.DomainConfig) Marker {
	disks, nics := deviceKeys(cfg)
	return Marker{
		Disks:      disks,
		Nics:       nics,
		UUID:       obj.DomainUUID(),
		UID:        obj.UID,
		Name:       obj.Name,
		Generation: obj.Generation,
		SpecHash:   SpecHash(&obj.Spec.Domain),
		Source:     obj.Labels[v1alpha1.LabelSource],
		Paused:     obj.Spec.Paused,
	}
}
