package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// VIR_DOMAIN_DEFINE_VALIDATE: validate against the schema. domxml.Parse is strict already.
const defineValidate = 1 << 0

// libvirt's virDomainUndefineFlagsValues the libxl driver accepts.
const (
	undefineManagedSave = 1 << 0 // VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
	undefineNVRAM       = 1 << 2 // VIR_DOMAIN_UNDEFINE_NVRAM
	undefineKeepNVRAM   = 1 << 3 // VIR_DOMAIN_UNDEFINE_KEEP_NVRAM
)

// registerDefine: persistent definitions and autostart.
func registerDefine(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainDefineXML, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainDefineXMLArgs) (*libvirt.DomainDefineXMLRet, error) {
		d, err := f.define(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainDefineXMLRet{Dom: d}, nil
	})
	rpc.Register(p, rpc.ProcDomainDefineXMLFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainDefineXMLFlagsArgs) (*libvirt.DomainDefineXMLFlagsRet, error) {
		if err := noFlags(uint32(a.Flags)&^defineValidate, "libxlDomainDefineXMLFlags"); err != nil {
			return nil, err
		}
		d, err := f.define(ctx, a.XML)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainDefineXMLFlagsRet{Dom: d}, nil
	})
	rpc.Register(p, rpc.ProcDomainUndefine, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainUndefineArgs) (*struct{}, error) {
		return nil, f.undefine(ctx, a.Dom, 0)
	})
	rpc.Register(p, rpc.ProcDomainUndefineFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainUndefineFlagsArgs) (*struct{}, error) {
		if err := noFlags(uint32(a.Flags)&^(undefineManagedSave|undefineNVRAM|undefineKeepNVRAM), "libxlDomainUndefineFlags"); err != nil {
			return nil, err
		}
		return nil, f.undefine(ctx, a.Dom, uint32(a.Flags))
	})
	rpc.Register(p, rpc.ProcDomainGetAutostart, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetAutostartArgs) (*libvirt.DomainGetAutostartRet, error) {
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainGetAutostartRet{Autostart: boolInt(d.Obj != nil && d.Obj.Spec.Autostart)}, nil
	})
	rpc.Register(p, rpc.ProcDomainSetAutostart, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetAutostartArgs) (*struct{}, error) {
		return nil, f.setAutostart(ctx, a.Dom, a.Autostart != 0)
	})
}

// parseDefinition reads domain XML from a client and completes it as libvirt's parser does.
func (f *Facade) parseDefinition(xml string) (*v1alpha1.DomainSpec, error) {
	spec, err := domxml.Parse([]byte(xml))
	if err == nil {
		err = domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: f.Facts.Arch})
	}
	if err != nil {
		return nil, xmlErr(err)
	}
	return spec, nil
}

// xmlErr maps domxml's errors to the errors libvirt's parser raises.
func xmlErr(err error) error {
	var syn *domxml.SyntaxError
	switch {
	case errors.As(err, &syn):
		return rpc.Errorf(rpc.CodeXMLDetail, rpc.DomainXML, "(domain_definition):%d: %s", syn.Line, syn.Msg)
	case errors.Is(err, domxml.ErrNoName):
		return &rpc.Error{Code: rpc.Code(libvirt.ErrNoName), Domain: rpc.DomainDomain, Level: rpc.LevelError,
			Message: "missing name information", Str1: "missing name information", Int1: -1, Int2: -1}
	case errors.Is(err, domxml.ErrUnsupported):
		return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainDomain, err.Error())
	case errors.Is(err, domxml.ErrOverflow):
		// virScaleInteger and virDomainParseMemory: "value too large", "size value too large".
		return rpc.NewError(rpc.CodeOverflow, rpc.DomainDomain, err.Error())
	case errors.Is(err, domxml.ErrInvalid):
		return rpc.NewError(rpc.CodeXMLError, rpc.DomainDomain, err.Error())
	}
	return rpc.NewError(rpc.CodeXMLError, rpc.DomainDomain, err.Error())
}

// checkIdentity applies libvirt's rules for a definition arriving next to the existing domains
// (virDomainObjListAddLocked): a UUID belongs to one name and a name to one UUID. It returns the domain the
// definition is for, or nil for a new one. live is CHECK_LIVE (createXML): an active domain is refused.
func (f *Facade) checkIdentity(ctx context.Context, spec *v1alpha1.DomainSpec, live bool) (*dom, error) {
	all, err := f.domains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if !strings.EqualFold(d.UUID, spec.UUID) {
			continue
		}
		if d.Name != spec.Name {
			return nil, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainDomain,
				"domain '%s' is already defined with uuid %s", d.Name, spec.UUID)
		}
		if live && d.Active() {
			return nil, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain '%s' is already active", d.Name)
		}
		if live && !d.Persistent() {
			return nil, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain '%s' is already being started", d.Name)
		}
		if _, err := managed(d); err != nil {
			return nil, err
		}
		return d, nil
	}
	for _, d := range all {
		if d.Name == spec.Name {
			return nil, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainDomain,
				"domain '%s' already exists with uuid %s", spec.Name, d.UUID)
		}
	}
	return nil, nil
}

// define is virDomainDefineXMLFlags: the definition is written to defines_dir (NAME.xml, atomically) and to the
// store. A running domain keeps running; the new definition applies at its next start.
func (f *Facade) define(ctx context.Context, xml string) (libvirt.Domain, error) {
	spec, err := f.parseDefinition(xml)
	if err != nil {
		return libvirt.Domain{}, err
	}
	unlock, err := f.lockDomain(ctx, spec.Name, spec.UUID)
	if err != nil {
		return libvirt.Domain{}, err
	}
	defer unlock()
	existing, err := f.checkIdentity(ctx, spec, false)
	if err != nil {
		return libvirt.Domain{}, err
	}
	if err := f.fleetEdit(existing); err != nil {
		return libvirt.Domain{}, err
	}
	if existing != nil && existing.Obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindFile {
		return libvirt.Domain{}, f.refuseFileEdit(existing)
	}
	if err := f.Defines.Save(spec); err != nil {
		return libvirt.Domain{}, internalErr(err)
	}
	detail := controllers.DetailDefinedAdded
	if existing != nil && existing.Persistent() {
		detail = controllers.DetailDefinedUpdated
	}
	if err := f.storeDefine(ctx, spec); err != nil {
		if existing == nil {
			// Not acknowledged: the file goes too, so that a restart does not bring the domain back.
			if derr := f.Defines.Delete(spec.Name); derr != nil {
				f.Log.Error(derr, "remove definition after a failed define", "domain", spec.Name)
			}
		}
		return libvirt.Domain{}, err
	}
	d, err := f.wireOf(ctx, &dom{Name: spec.Name, UUID: spec.UUID})
	if err != nil {
		return libvirt.Domain{}, err
	}
	f.publish(d, controllers.EventDefined, detail)
	return d, nil
}

// storeDefine makes the store hold the define of spec, whose file is written: a new object, or the existing one
// made a define. An object on its way out is waited for, and one that went away meanwhile (a reload of
// defines_dir, a transient domain forgotten as it stopped) is created afresh: a define whose file is written is
// never answered "Domain not found".
func (f *Facade) storeDefine(ctx context.Context, spec *v1alpha1.DomainSpec) error {
	ctx, cancel := f.ctxFor(ctx)
	defer cancel()
	key := client.ObjectKey{Namespace: v1alpha1.LocalNamespace, Name: spec.Name}
	for ctx.Err() == nil {
		cur := &v1alpha1.XenDomain{}
		switch err := f.Store.Get(ctx, key, cur); {
		case apierrors.IsNotFound(err):
			switch err := f.createObject(ctx, f.Defines.Object(spec)); {
			case apierrors.IsAlreadyExists(err):
				continue // a reload of defines_dir read the new file first: bring that object in line
			case err != nil:
				return internalErr(err)
			}
			return nil
		case err != nil:
			return internalErr(err)
		case !cur.DeletionTimestamp.IsZero():
			uid := cur.UID
			if _, err := f.waitFor(ctx, cur, func(o *v1alpha1.XenDomain) bool { return o == nil || o.UID != uid }); err != nil {
				return err
			}
			continue
		}
		_, err := f.update(ctx, cur, func(o *v1alpha1.XenDomain) error {
			if o.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindFile {
				return f.refuseFileEdit(&dom{Name: spec.Name, Obj: o})
			}
			f.makeDefine(o, spec)
			return nil
		})
		if rpc.CodeOf(err) == rpc.CodeNoDomain {
			continue // gone meanwhile
		}
		return err
	}
	return timeoutErr()
}

// makeDefine turns o into the object of the persistent definition spec, as defines.Store.Object makes one.
func (f *Facade) makeDefine(o *v1alpha1.XenDomain, spec *v1alpha1.DomainSpec) {
	def := f.Defines.Object(spec)
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	if o.Annotations == nil {
		o.Annotations = map[string]string{}
	}
	o.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindDefine
	o.Annotations[v1alpha1.AnnotationSource] = def.Annotations[v1alpha1.AnnotationSource]
	delete(o.Annotations, v1alpha1.AnnotationSourceError)
	o.Spec.Domain = def.Spec.Domain
	o.Spec.Autostart = def.Spec.Autostart
	o.Spec.RunStrategy = v1alpha1.RunStrategyManual
}

// undefine is virDomainUndefineFlags: the definition and its autostart link go; a running domain becomes
// transient and goes away when it stops, an inactive one goes at once.
func (f *Facade) undefine(ctx context.Context, w libvirt.Domain, flags uint32) error {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	obj, err := managed(d)
	if err != nil {
		return err
	}
	if err := f.fleetEdit(d); err != nil {
		return err
	}
	switch obj.Labels[v1alpha1.LabelSource] {
	case v1alpha1.SourceKindTransient:
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "cannot undefine transient domain")
	case v1alpha1.SourceKindFile:
		return f.refuseFileEdit(d)
	}
	if f.hasManagedSaveImage(d) {
		if flags&undefineManagedSave == 0 {
			return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl,
				"Refusing to undefine while domain managed save image exists")
		}
		if path := f.managedSavePath(d.Name); os.Remove(path) != nil && f.hasManagedSaveImage(d) {
			return rpc.Errorf(rpc.CodeSystemError, rpc.DomainLibxl, "Failed to remove managed save file '%s'", path)
		}
	}
	if err := f.Defines.Delete(d.Name); err != nil {
		return internalErr(err)
	}
	wire := d.Wire()
	if d.Active() {
		_, err = f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
			o.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindTransient
			delete(o.Annotations, v1alpha1.AnnotationSource)
			delete(o.Annotations, v1alpha1.AnnotationSourceError)
			o.Spec.Autostart = false
			return nil
		})
	} else {
		// The reconciler releases the object (its finalizer); libvirt's undefine returns with the domain gone.
		uid := obj.UID
		if err = f.Store.Delete(ctx, obj, client.Preconditions{UID: &uid}); apierrors.IsNotFound(err) {
			err = nil
		} else if err != nil {
			err = internalErr(err)
		} else {
			_, err = f.waitFor(ctx, obj, func(o *v1alpha1.XenDomain) bool { return o == nil || o.UID != uid })
		}
	}
	if err != nil {
		return err
	}
	f.publish(wire, controllers.EventUndefined, controllers.DetailUndefinedRemoved)
	return nil
}

// setAutostart is virDomainSetAutostart: the autostart link in defines_dir and spec.autostart.
func (f *Facade) setAutostart(ctx context.Context, w libvirt.Domain, on bool) error {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	obj, err := managed(d)
	if err != nil {
		return err
	}
	if err := f.fleetEdit(d); err != nil {
		return err
	}
	switch obj.Labels[v1alpha1.LabelSource] {
	case v1alpha1.SourceKindTransient:
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "cannot set autostart for transient domain")
	case v1alpha1.SourceKindFile:
		return f.refuseFileEdit(d)
	}
	if obj.Spec.Autostart == on && f.Defines.Autostart(d.Name) == on {
		return nil
	}
	if err := f.Defines.SetAutostart(d.Name, on); err != nil {
		return rpc.Errorf(rpc.CodeSystemError, rpc.DomainLibxl, "Failed to %s autostart link for domain '%s': %v",
			map[bool]string{true: "create", false: "delete"}[on], d.Name, err)
	}
	_, err = f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		o.Spec.Autostart = on
		return nil
	})
	return err
}

// sourceFile names the drop-in file a domain comes from.
func (f *Facade) sourceFile(obj *v1alpha1.XenDomain) string {
	if f.Specs != nil {
		if p, ok := f.Specs.File(obj.Name); ok {
			return p
		}
	}
	if src, ok := strings.CutPrefix(obj.Annotations[v1alpha1.AnnotationSource], v1alpha1.SourceKindFile+":"); ok {
		return src
	}
	return "a file in the drop-in directory"
}

// refuseFileEdit is the error for a configuration change to a domain its drop-in file owns.
func (f *Facade) refuseFileEdit(d *dom) error {
	return rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl, "domain '%s' is defined by %s: edit that file instead",
		d.Name, f.sourceFile(d.Obj))
}

// getObject reads the object named name into obj.
func (f *Facade) getObject(ctx context.Context, name string, obj *v1alpha1.XenDomain) error {
	err := f.Store.Get(ctx, client.ObjectKey{Namespace: v1alpha1.LocalNamespace, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
	case err != nil:
		return internalErr(fmt.Errorf("read domain %q: %w", name, err))
	}
	return nil
}

// sameDefinition reports whether two definitions print the same.
func sameDefinition(a, b *v1alpha1.DomainSpec) bool {
	if equality.Semantic.DeepEqual(a, b) {
		return true
	}
	x, errA := domxml.Format(a, domxml.Inactive)
	y, errB := domxml.Format(b, domxml.Inactive)
	return errA == nil && errB == nil && string(x) == string(y)
}
