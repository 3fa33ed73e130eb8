package controllers

import "github.com/virtxend/virtxend/libxl"

// nameRef is the byName entry of a name: a domain carrying it, and how many do (Xen refuses a second domain of
// the same name, but readings of a renamed or replaced domain may overlap for a moment).
type nameRef struct {
	id libxl.DomID
	n  int
}

// putLocked stores ob as the reading of id and keeps byName in step. Call with o.mu held for writing.
func (o *Observer) putLocked(id libxl.DomID, ob *Observed) {
	old := o.byDomID[id]
	o.byDomID[id] = ob
	if old != nil && old.Info.Name == ob.Info.Name {
		return
	}
	if old != nil {
		o.unnameLocked(id, old.Info.Name)
	}
	r := o.byName[ob.Info.Name]
	o.byName[ob.Info.Name] = nameRef{id: id, n: r.n + 1}
}

// unnameLocked drops id's claim on name, after id was removed from byDomID or renamed. Only when another
// domain carries the same name does it walk the domains to find which. Call with o.mu held for writing.
func (o *Observer) unnameLocked(id libxl.DomID, name string) {
	r, ok := o.byName[name]
	if !ok {
		return
	}
	if r.n--; r.n <= 0 {
		delete(o.byName, name)
		return
	}
	if r.id == id {
		o.nameScans++
		for other, ob := range o.byDomID {
			if other != id && ob.Info.Name == name {
				r.id = other
				break
			}
		}
	}
	o.byName[name] = r
}
