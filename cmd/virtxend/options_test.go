package main

import (
	"reflect"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    options
		wantErr string
	}{
		{args: nil, want: options{}},
		{args: []string{"-h"}, want: options{help: true}},
		{args: []string{"--help"}, want: options{help: true}},
		{args: []string{"--version"}, want: options{version: true}},
		{args: []string{"-dv"}, want: options{daemon: true, verbose: true}},
		{args: []string{"-f", "/x.conf", "-p", "/x.pid"}, want: options{config: "/x.conf", pidFile: "/x.pid"}},
		{args: []string{"-f/x.conf", "--pid-file=/x.pid"}, want: options{config: "/x.conf", pidFile: "/x.pid"}},
		{args: []string{"--config", "/x.conf", "--timeout", "120"}, want: options{config: "/x.conf", timeout: 120}},
		{args: []string{"-vt30"}, want: options{verbose: true, timeout: 30}},
		{args: []string{"-t", "abc"}, wantErr: `invalid value for timeout: "abc"`},
		{args: []string{"-t", "-5"}, wantErr: `invalid value for timeout: "-5"`},
		{args: []string{"-x"}, wantErr: "invalid option -- 'x'"},
		{args: []string{"--bogus"}, wantErr: "unrecognized option '--bogus'"},
		{args: []string{"-f"}, wantErr: "option '-f' requires an argument"},
		{args: []string{"--config"}, wantErr: "option '--config' requires an argument"},
		{args: []string{"--help=yes"}, wantErr: "option '--help' doesn't allow an argument"},
		{args: []string{"stray"}, wantErr: "unexpected argument 'stray'"},
	} {
		got, err := parseArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("parseArgs(%q) error = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseArgs(%q): %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("parseArgs(%q) = %+v, want %+v", tc.args, *got, tc.want)
		}
	}
}
