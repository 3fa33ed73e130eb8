// Package docs holds virtxend's manual page, virtxend.8, and the tests that keep it, the systemd units in
// config/systemd and the Makefile's install target honest: the page renders without roff warnings, documents
// every command-line option, and make install lays out the tree the page and the units describe.
package docs
