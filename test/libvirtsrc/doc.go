// Package libvirtsrc locates, for tests, the parts of libvirt's release that virtxend is compared against: the
// Xen test corpora, domain capabilities and schemas of libvirt's source tree, its daemon configuration and unit
// file templates, and its protocol definitions.
//
// They are not in the repository. hack/libvirt-src.sh (run by make test-deps, so by make test) fetches the
// source tarball of the pinned release from Debian's source archive, checks its SHA-256 and extracts those parts
// into ~/.cache/virtxend/libvirt-VERSION once. A test that needs them calls Dir or Path: where the cache is
// missing, the test fails under CI (CI=true) and otherwise skips with one line naming the command that fetches it.
//
// Which of the corpus files libvirt's test programs run, and in which direction, is this package's own table
// (Runs), written from libvirt's test programs and checked against them by TestRunsMatchLibvirtPrograms.
package libvirtsrc
