package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Log priorities as log_level, log_filters and log_outputs number them.
const (
	LogDebug   = 1
	LogInfo    = 2
	LogWarning = 3
	LogError   = 4
)

// LogFilter is one entry of log_filters, "LEVEL:MATCH": messages whose source category contains Match (a
// glob, matched as a substring) are logged from Level up, whatever the default level.
type LogFilter struct {
	Level int
	Match string
}

// LogOutput is one entry of log_outputs: "LEVEL:stderr", "LEVEL:journald", "LEVEL:syslog:IDENT" or
// "LEVEL:file:PATH". Messages from Level up go to Dest; Arg is the syslog ident or the file path.
type LogOutput struct {
	Level int
	Dest  string
	Arg   string
}

// Log output destinations.
const (
	LogToStderr   = "stderr"
	LogToJournald = "journald"
	LogToSyslog   = "syslog"
	LogToFile     = "file"
)

// ParseLogFilters parses a log_filters value the way libvirt's virLogParseFilters does: filters separated by
// spaces, each "LEVEL:MATCH" with LEVEL 1 to 4. A leading '+' on MATCH (once a request for stack traces) is
// dropped; anything after a second ':' is ignored.
func ParseLogFilters(s string) ([]LogFilter, error) {
	var out []LogFilter
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		parts := strings.Split(tok, ":")
		if len(parts) < 2 {
			return nil, fmt.Errorf("filter %q: want LEVEL:MATCH, such as 1:libxl", tok)
		}
		level, err := logLevel(parts[0])
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", tok, err)
		}
		match := strings.TrimPrefix(parts[1], "+")
		if match == "" {
			return nil, fmt.Errorf("filter %q: empty match", tok)
		}
		out = append(out, LogFilter{Level: level, Match: match})
	}
	return out, nil
}

// ParseLogOutputs parses a log_outputs value the way libvirt's virLogParseOutputs does: outputs separated
// by spaces. When two outputs share a destination (and ident or path) the later one replaces the earlier.
func ParseLogOutputs(s string) ([]LogOutput, error) {
	var out []LogOutput
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		parts := strings.Split(tok, ":")
		if len(parts) < 2 {
			return nil, fmt.Errorf("output %q: want LEVEL:DESTINATION, such as 3:stderr", tok)
		}
		level, err := logLevel(parts[0])
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", tok, err)
		}
		o := LogOutput{Level: level, Dest: parts[1]}
		switch o.Dest {
		case LogToStderr, LogToJournald:
			if len(parts) != 2 {
				return nil, fmt.Errorf("output %q: %s takes no argument", tok, o.Dest)
			}
		case LogToSyslog, LogToFile:
			if len(parts) != 3 {
				return nil, fmt.Errorf("output %q: want LEVEL:%s:%s (one argument, no ':' in it)", tok, o.Dest,
					map[string]string{LogToSyslog: "IDENT", LogToFile: "PATH"}[o.Dest])
			}
			o.Arg = parts[2]
			if o.Dest == LogToFile && o.Arg == "" {
				return nil, fmt.Errorf("output %q: empty file path", tok)
			}
		default:
			return nil, fmt.Errorf("output %q: unknown destination %q (want stderr, journald, syslog or file)", tok, o.Dest)
		}
		for i, prev := range out {
			if prev.Dest == o.Dest && prev.Arg == o.Arg {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		out = append(out, o)
	}
	return out, nil
}

func logLevel(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < LogDebug || n > LogError {
		return 0, fmt.Errorf("level %q is not 1 (debug), 2 (info), 3 (warning) or 4 (error)", s)
	}
	return n, nil
}
