package remote

import (
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// A fleet host's domains are XenDomain objects in the fleet's API server, which stays their record: virsh's
// lifecycle calls are written to the objects as actions (as in local mode), while definition edits (define,
// undefine, autostart, --config changes, device changes) and domains made on the host alone (create, restore
// of a domain without an object) are refused with a message naming the object to edit.

// fleetEdit is the refusal of a definition change to d on a fleet host, or nil in local mode.
func (f *Facade) fleetEdit(d *dom) error {
	if f.FleetNode == "" {
		return nil
	}
	if d == nil || d.Obj == nil {
		return f.fleetNew()
	}
	return rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
		"domain '%s' is defined by the XenDomain object %s/%s in the fleet's API server: edit that object instead",
		d.Name, d.Obj.Namespace, d.Obj.Name)
}

// fleetNew is the refusal of a domain made on a fleet host without an object, or nil in local mode.
func (f *Facade) fleetNew() error {
	if f.FleetNode == "" {
		return nil
	}
	return rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
		"this host takes its domains from the fleet's API server: create a XenDomain object with spec.nodeName %q instead",
		f.FleetNode)
}

// editRefusal is why the definition of obj (the object of d) may not change over RPC, or nil when it may.
func (f *Facade) editRefusal(d *dom, obj *v1alpha1.XenDomain) error {
	if err := f.fleetEdit(d); err != nil {
		return err
	}
	if obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindFile {
		return f.refuseFileEdit(d)
	}
	return nil
}
