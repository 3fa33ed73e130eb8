package config

import (
	"reflect"
	"testing"
)

func TestParseLogFilters(t *testing.T) {
	tests := []struct {
		in      string
		want    []LogFilter
		wantErr string
	}{
		{in: "", want: nil},
		{in: "   ", want: nil},
		{in: "1:libxl", want: []LogFilter{{1, "libxl"}}},
		{in: " 1:libxl  4:util.json 3:+rpc ", want: []LogFilter{{1, "libxl"}, {4, "util.json"}, {3, "rpc"}}},
		{in: "2:a:ignored", want: []LogFilter{{2, "a"}}},
		{in: "1:", wantErr: `filter "1:": empty match`},
		{in: "x:libxl", wantErr: `filter "x:libxl": level "x" is not 1 (debug), 2 (info), 3 (warning) or 4 (error)`},
		// Only spaces separate filters, and what follows a second ':' is dropped, as in libvirt.
		{in: "1:a\t2:b", want: []LogFilter{{1, "a\t2"}}},
	}
	for _, tt := range tests {
		got, err := ParseLogFilters(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseLogFilters(%q) error %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLogFilters(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseLogOutputs(t *testing.T) {
	tests := []struct {
		in      string
		want    []LogOutput
		wantErr string
	}{
		{in: "", want: nil},
		{in: "3:journald", want: []LogOutput{{3, "journald", ""}}},
		{in: "1:file:/var/log/x.log 3:syslog:virtxend 4:stderr", want: []LogOutput{
			{1, "file", "/var/log/x.log"}, {3, "syslog", "virtxend"}, {4, "stderr", ""}}},
		{in: "1:file:rel.log", want: []LogOutput{{1, "file", "rel.log"}}},
		{in: "3:syslog:", want: []LogOutput{{3, "syslog", ""}}},
		// The later of two outputs to one place replaces the earlier, which moves to the end.
		{in: "1:stderr 2:journald 3:stderr", want: []LogOutput{{2, "journald", ""}, {3, "stderr", ""}}},
		{in: "1:file:/a 2:file:/b", want: []LogOutput{{1, "file", "/a"}, {2, "file", "/b"}}},
		{in: "1:file:", wantErr: `output "1:file:": empty file path`},
		{in: "1:file:c:/x", wantErr: `output "1:file:c:/x": want LEVEL:file:PATH (one argument, no ':' in it)`},
		{in: "1:syslog", wantErr: `output "1:syslog": want LEVEL:syslog:IDENT (one argument, no ':' in it)`},
		{in: "1:journald:x", wantErr: `output "1:journald:x": journald takes no argument`},
		{in: "9:stderr", wantErr: `output "9:stderr": level "9" is not 1 (debug), 2 (info), 3 (warning) or 4 (error)`},
	}
	for _, tt := range tests {
		got, err := ParseLogOutputs(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseLogOutputs(%q) error %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLogOutputs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
