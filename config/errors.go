package config

import (
	"strconv"
	"strings"
)

// Error is a problem in a configuration file, located as precisely as the parser knows it. Its text reads
// like a compiler's: "/etc/libvirt/virtxend.conf:12: log_level: expected an integer, got string \"debug\"".
// LoadDaemon, ParseDaemon, LoadLibxl and ParseLibxl return every value error of a file at once, joined with
// errors.Join; errors.As finds the first.
type Error struct {
	// File is the name the file was parsed under, usually its path; empty for a value built in code.
	File string
	// Line is the 1-based line, 0 when the problem is not on a line (a default, a cross-key rule).
	Line int
	// Col is the 1-based column in bytes, 0 when not known; only syntax errors carry one.
	Col int
	// Key is the setting concerned, empty for a syntax error before a key was read.
	Key string
	// Err is what is wrong.
	Err error
}

// Error formats the location, the key and the problem.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(location(e.File, e.Line, e.Col))
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *Error) Unwrap() error { return e.Err }

// Warning is something in a configuration file that libvirt accepts silently but that an operator should
// hear about: an unknown or obsolete key, a key given twice, a value libvirt quietly adjusts. The daemon
// logs warnings; they never stop it.
type Warning struct {
	// File is the name the file was parsed under.
	File string
	// Line is the 1-based line, 0 when the warning is about the file as a whole.
	Line int
	// Key is the setting concerned.
	Key string
	// Msg says what happens.
	Msg string
}

// String formats the warning like an Error.
func (w Warning) String() string {
	s := location(w.File, w.Line, 0)
	if w.Key != "" {
		s += w.Key + ": "
	}
	return s + w.Msg
}

// location renders "file:line:col: ", leaving out what is unknown.
func location(file string, line, col int) string {
	var parts []string
	if file != "" {
		parts = append(parts, file)
	}
	if line > 0 {
		parts = append(parts, strconv.Itoa(line))
		if col > 0 {
			parts = append(parts, strconv.Itoa(col))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ":") + ": "
}
