// Package testenv ends tests that lack something they need in one way everywhere: under CI (CI=true), where
// make test-deps has installed everything, the test fails; elsewhere it skips with one line naming what is
// missing and the command that provides it. No test skips silently.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Missing ends the test for lack of what; command is what a person runs to get it.
func Missing(tb testing.TB, what, command string) {
	tb.Helper()
	msg := "MISSING " + what + ": run " + command
	if CI() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Tool ends the test, as Missing does, when the program at path is not installed; pkg is its Debian package.
func Tool(tb testing.TB, path, pkg string) {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(tb, path+" (Debian package "+pkg+")", "make test-deps")
	}
}

// CI reports whether the tests run under CI, where nothing may be missing.
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}
