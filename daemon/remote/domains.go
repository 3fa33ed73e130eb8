package remote

import (
	"context"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// registerDomains: listing, lookup and the state of domains.
func registerDomains(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcConnectListAllDomains, f.listAllDomains, rpc.Inline())
	rpc.Register(p, rpc.ProcConnectNumOfDomains, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.ConnectNumOfDomainsRet, error) {
		ds, err := f.filtered(ctx, func(d *dom) bool { return d.Active() })
		return &libvirt.ConnectNumOfDomainsRet{Num: int32(len(ds))}, err
	})
	rpc.Register(p, rpc.ProcConnectListDomains, func(ctx context.Context, _ *rpc.Call, a *libvirt.ConnectListDomainsArgs) (*libvirt.ConnectListDomainsRet, error) {
		ds, err := f.filtered(ctx, func(d *dom) bool { return d.Active() })
		if err != nil {
			return nil, err
		}
		ret := &libvirt.ConnectListDomainsRet{Ids: []int32{}}
		for _, d := range ds {
			if len(ret.Ids) < int(a.Maxids) {
				ret.Ids = append(ret.Ids, d.ID())
			}
		}
		return ret, nil
	})
	rpc.Register(p, rpc.ProcConnectNumOfDefinedDomains, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.ConnectNumOfDefinedDomainsRet, error) {
		ds, err := f.filtered(ctx, func(d *dom) bool { return !d.Active() })
		return &libvirt.ConnectNumOfDefinedDomainsRet{Num: int32(len(ds))}, err
	})
	rpc.Register(p, rpc.ProcConnectListDefinedDomains, func(ctx context.Context, _ *rpc.Call, a *libvirt.ConnectListDefinedDomainsArgs) (*libvirt.ConnectListDefinedDomainsRet, error) {
		ds, err := f.filtered(ctx, func(d *dom) bool { return !d.Active() })
		if err != nil {
			return nil, err
		}
		ret := &libvirt.ConnectListDefinedDomainsRet{Names: []string{}}
		for _, d := range ds {
			if len(ret.Names) < int(a.Maxnames) {
				ret.Names = append(ret.Names, d.Name)
			}
		}
		return ret, nil
	})
	rpc.Register(p, rpc.ProcDomainLookupByID, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainLookupByIDArgs) (*libvirt.DomainLookupByIDRet, error) {
		d, err := f.byID(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainLookupByIDRet{Dom: d.Wire()}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainLookupByName, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainLookupByNameArgs) (*libvirt.DomainLookupByNameRet, error) {
		d, err := f.byName(ctx, a.Name)
		if err == nil && d == nil {
			err = rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
		}
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainLookupByNameRet{Dom: d.Wire()}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainLookupByUUID, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainLookupByUUIDArgs) (*libvirt.DomainLookupByUUIDRet, error) {
		u := uuidString(a.UUID)
		d, err := f.byUUID(ctx, u, "")
		if err == nil && d == nil {
			err = rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
		}
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainLookupByUUIDRet{Dom: d.Wire()}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainGetState, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetStateArgs) (*libvirt.DomainGetStateRet, error) {
		if err := noFlags(a.Flags, "libxlDomainGetState"); err != nil {
			return nil, err
		}
		var d dom // on the stack: these lookups run on every call of a monitoring client
		if err := f.lookupInto(ctx, a.Dom, &d); err != nil {
			return nil, err
		}
		s, r := d.State()
		return &libvirt.DomainGetStateRet{State: s, Reason: r}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainGetInfo, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetInfoArgs) (*libvirt.DomainGetInfoRet, error) {
		var d dom
		if err := f.lookupInto(ctx, a.Dom, &d); err != nil {
			return nil, err
		}
		return f.info(ctx, &d), nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainIsActive, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainIsActiveArgs) (*libvirt.DomainIsActiveRet, error) {
		var d dom
		if err := f.lookupInto(ctx, a.Dom, &d); err != nil {
			return nil, err
		}
		return &libvirt.DomainIsActiveRet{Active: boolInt(d.Active())}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainIsPersistent, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainIsPersistentArgs) (*libvirt.DomainIsPersistentRet, error) {
		var d dom
		if err := f.lookupInto(ctx, a.Dom, &d); err != nil {
			return nil, err
		}
		return &libvirt.DomainIsPersistentRet{Persistent: boolInt(d.Persistent())}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcDomainIsUpdated, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainIsUpdatedArgs) (*libvirt.DomainIsUpdatedRet, error) {
		if _, err := f.lookup(ctx, a.Dom); err != nil {
			return nil, err
		}
		return &libvirt.DomainIsUpdatedRet{Updated: 0}, nil // libxl never sets vm->updated
	})
	rpc.Register(p, rpc.ProcDomainGetOSType, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetOsTypeArgs) (*libvirt.DomainGetOsTypeRet, error) {
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainGetOsTypeRet{Type: osType(d)}, nil
	})
	rpc.Register(p, rpc.ProcDomainGetMessages, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetMessagesArgs) (*libvirt.DomainGetMessagesRet, error) {
		// virDomainGetMessages: libvirt's libxl driver has no tainting or deprecation messages to report.
		const known = 1<<0 | 1<<1 // VIR_DOMAIN_MESSAGE_DEPRECATION, VIR_DOMAIN_MESSAGE_TAINTING
		if a.Flags&^known != 0 {
			return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, a.Flags&^known, "libxlDomainGetMessages")
		}
		if _, err := f.lookup(ctx, a.Dom); err != nil {
			return nil, err
		}
		return &libvirt.DomainGetMessagesRet{Msgs: []string{}}, nil
	})
	rpc.Register(p, rpc.ProcDomainGetMaxMemory, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetMaxMemoryArgs) (*libvirt.DomainGetMaxMemoryRet, error) {
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainGetMaxMemoryRet{Memory: f.info(ctx, d).MaxMem}, nil
	})
}

// byID returns the running domain with this domid, or libvirt's plain "Domain not found".
func (f *Facade) byID(ctx context.Context, id int32) (*dom, error) {
	for _, o := range f.Observer.List() {
		if int32(o.Info.DomID) != id {
			continue
		}
		name := o.Info.Name
		if o.Marker != nil {
			name = o.Marker.Name
		}
		if d, err := f.byName(ctx, name); err != nil || (d != nil && d.ID() == id) {
			return d, err
		}
		return f.find(ctx, func(d *dom) bool { return d.Active() && d.ID() == id })
	}
	return nil, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
}

// libvirt's virConnectListAllDomainsFlags.
const (
	listActive        = 1 << 0
	listInactive      = 1 << 1
	listPersistent    = 1 << 2
	listTransient     = 1 << 3
	listRunning       = 1 << 4
	listPaused        = 1 << 5
	listShutoff       = 1 << 6
	listOther         = 1 << 7
	listManagedSave   = 1 << 8
	listNoManagedSave = 1 << 9
	listAutostart     = 1 << 10
	listNoAutostart   = 1 << 11
	listSnapshot      = 1 << 12
	listNoSnapshot    = 1 << 13
	listCheckpoint    = 1 << 14
	listNoCheckpoint  = 1 << 15
	listAll           = 1<<16 - 1
)

func (f *Facade) listAllDomains(ctx context.Context, _ *rpc.Call, a *libvirt.ConnectListAllDomainsArgs) (*libvirt.ConnectListAllDomainsRet, error) {
	flags := uint32(a.Flags)
	if flags&^listAll != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, flags&^listAll, "libxlConnectListAllDomains")
	}
	ds, err := f.filtered(ctx, func(d *dom) bool { return f.matchListFlags(d, flags) })
	if err != nil {
		return nil, err
	}
	ret := &libvirt.ConnectListAllDomainsRet{Domains: []libvirt.Domain{}, Ret: uint32(len(ds))}
	if a.NeedResults != 0 {
		for _, d := range ds {
			ret.Domains = append(ret.Domains, d.Wire())
		}
	}
	return ret, nil
}

// matchListFlags is virDomainObjListFilter: within each group of flags, a domain must match one that is set.
func (f *Facade) matchListFlags(d *dom, flags uint32) bool {
	group := func(yes, no uint32, is bool) bool {
		if flags&(yes|no) == 0 || flags&(yes|no) == yes|no {
			return true
		}
		return (flags&yes != 0 && is) || (flags&no != 0 && !is)
	}
	st, _ := d.State()
	if g := flags & (listRunning | listPaused | listShutoff | listOther); g != 0 {
		ok := (g&listRunning != 0 && st == stateRunning) || (g&listPaused != 0 && st == statePaused) ||
			(g&listShutoff != 0 && st == stateShutoff) ||
			(g&listOther != 0 && st != stateRunning && st != statePaused && st != stateShutoff)
		if !ok {
			return false
		}
	}
	autostart := d.Obj != nil && d.Obj.Spec.Autostart
	return group(listActive, listInactive, d.Active()) &&
		group(listPersistent, listTransient, d.Persistent()) &&
		group(listManagedSave, listNoManagedSave, f.hasManagedSaveImage(d)) &&
		group(listAutostart, listNoAutostart, autostart) &&
		group(listSnapshot, listNoSnapshot, false) &&
		group(listCheckpoint, listNoCheckpoint, false)
}

func (f *Facade) filtered(ctx context.Context, keep func(*dom) bool) ([]*dom, error) {
	all, err := f.domains(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, d := range all {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// info is virDomainGetInfo: live figures for a running domain, the definition's for an inactive one.
func (f *Facade) info(ctx context.Context, d *dom) *libvirt.DomainGetInfoRet {
	st, _ := d.State()
	ret := &libvirt.DomainGetInfoRet{State: uint8(st)}
	if d.Obs != nil {
		i := d.Obs.Info
		if fresh, err := f.HV.DomainInfo(ctx, i.DomID); err == nil {
			i = fresh
		}
		ret.MaxMem, ret.Memory, ret.NrVirtCPU = i.MaxMemKiB, i.CurrentKiB, uint16(i.OnlineVcpus)
		ret.CPUTime = uint64(i.CPUTime / time.Nanosecond)
		if d.IsDom0() && ret.MaxMem == 0 {
			ret.MaxMem = i.CurrentKiB
		}
		return ret
	}
	if d.Obj != nil {
		spec := &d.Obj.Spec.Domain
		ret.MaxMem = kib(spec.Memory.Value())
		ret.Memory = ret.MaxMem
		if spec.CurrentMemory != nil {
			ret.Memory = kib(spec.CurrentMemory.Value())
		}
		ret.NrVirtCPU = 1
		if spec.VCPU != nil {
			ret.NrVirtCPU = uint16(spec.VCPU.Count)
			if spec.VCPU.Current != nil {
				ret.NrVirtCPU = uint16(*spec.VCPU.Current)
			}
		}
	}
	return ret
}

func osType(d *dom) string {
	if d.Obj != nil {
		if t := d.Obj.Spec.Domain.OS.Type; t != "" {
			return t // as defined: libvirt reports "linux" for a definition that says linux
		}
	}
	if d.Obs != nil {
		switch d.Obs.Info.Type {
		case libxl.DomainTypeHVM:
			return "hvm"
		case libxl.DomainTypePVH:
			return "xenpvh"
		}
	}
	return "xen"
}

func kib(bytes int64) uint64 { return uint64((bytes + 1023) / 1024) }

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// noFlags refuses any flag, as virCheckFlags(0, ...) does.
func noFlags(flags uint32, api string) error {
	if flags != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, flags, api)
	}
	return nil
}
