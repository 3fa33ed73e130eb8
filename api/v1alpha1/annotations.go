package v1alpha1

// LocalNamespace is the one namespace XenDomain objects live in in local mode (no API server).
const LocalNamespace = "default"

// LabelSource names the kind of source that owns an object, so that each source lists only its own objects.
// Values are the SourceKind constants.
const LabelSource = "virtxend.io/source-kind"

// Source kinds: the values of LabelSource.
const (
	// SourceKindFile marks objects loaded from a file in the drop-in directory (domains_dir).
	SourceKindFile = "file"
	// SourceKindDefine marks objects loaded from, or saved to, libvirt's persistent defines (defines_dir).
	SourceKindDefine = "define"
	// SourceKindTransient marks objects created over RPC without a file (virsh create): libvirt's transient
	// domains, which go away when they stop.
	SourceKindTransient = "transient"
)

// AnnotationSource says where an object's spec came from, as "KIND:PATH", e.g.
// "file:/etc/virtxend/domains.d/web.yaml" or "define:/etc/libvirt/libxl/web.xml".
const AnnotationSource = "virtxend.io/source"

// AnnotationSourceError is set by a source on an object whose file no longer parses; the spec stays at the last
// good version. The value is the parse error. The reconciler reports it as a Degraded condition.
const AnnotationSourceError = "virtxend.io/source-error"
