package controllers

import "github.com/virtxend/virtxend/api/v1alpha1"

// domainName and uuidOf are short forms of XenDomain.DomainName and XenDomain.DomainUUID, the one definition of
// a domain's name and identity; they hold no logic of their own.
func domainName(obj *v1alpha1.XenDomain) string { return obj.DomainName() }

func uuidOf(obj *v1alpha1.XenDomain) string { return obj.DomainUUID() }
