package v1alpha1

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
)

// SemanticEqual is equality.Semantic.DeepEqual (1Gi equals 1024Mi, nil equals empty) with a fast path: values
// exactly equal, the usual case on a reconcile's comparisons, are told by reflect.DeepEqual, which allocates
// nothing; the semantic comparison allocates for every field it visits.
func SemanticEqual(a, b any) bool {
	return reflect.DeepEqual(a, b) || equality.Semantic.DeepEqual(a, b)
}
