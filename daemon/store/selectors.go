package store

import (
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// matcher is a compiled namespace, label and field selection. A nil *matcher matches everything.
type matcher struct {
	namespace string
	labels    labels.Selector // nil: any labels
	fields    []fieldReq
}

type fieldReq struct {
	extract func(client.Object) []string
	value   string
	negate  bool
}

// matcher compiles the selection of lo for ks's kind, refusing fields that have no extractor as the API server
// does ("field label not supported"). Call with s.mu held: it reads the registered extractors.
func (ks *kindStore) matcher(lo *client.ListOptions) (*matcher, error) {
	m := &matcher{namespace: lo.Namespace}
	if !ks.namespaced {
		m.namespace = ""
	}
	if lo.LabelSelector != nil && !lo.LabelSelector.Empty() {
		m.labels = lo.LabelSelector
	}
	if lo.FieldSelector != nil {
		for _, r := range lo.FieldSelector.Requirements() {
			fr := fieldReq{value: r.Value}
			switch r.Operator {
			case selection.Equals, selection.DoubleEquals:
			case selection.NotEquals:
				fr.negate = true
			default:
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field selector operator %q is not supported", r.Operator))
			}
			switch r.Field {
			case "metadata.name":
				fr.extract = func(o client.Object) []string { return []string{o.GetName()} }
			case "metadata.namespace":
				fr.extract = func(o client.Object) []string { return []string{o.GetNamespace()} }
			default:
				fr.extract = ks.fields[r.Field]
				if fr.extract == nil {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
				}
			}
			m.fields = append(m.fields, fr)
		}
	}
	if m.namespace == "" && m.labels == nil && len(m.fields) == 0 {
		return nil, nil
	}
	return m, nil
}

// matches reports whether obj is selected.
func (m *matcher) matches(obj client.Object) bool {
	if m == nil {
		return true
	}
	if m.namespace != "" && obj.GetNamespace() != m.namespace {
		return false
	}
	if m.labels != nil && !m.labels.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	for _, f := range m.fields {
		if slices.Contains(f.extract(obj), f.value) == f.negate {
			return false
		}
	}
	return true
}
