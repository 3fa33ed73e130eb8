package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// options are the command-line options of virtxend(8).
type options struct {
	help, version, daemon, verbose bool
	config, pidFile                string
	timeout                        int // seconds; 0 = never exit for idleness
}

const usage = `Usage:
  virtxend [options]

Options:
  -h | --help            Display program help.
  -v | --verbose         Verbose messages.
  -d | --daemon          Run as a daemon and write a pid file.
  -t | --timeout <secs>  Exit after that many seconds with no client connected and no running domain.
  -f | --config <file>   Configuration file (default /etc/libvirt/virtxend.conf).
  -p | --pid-file <file> Change the name of the pid file (default /run/virtxend.pid).
       --version         Display version information.

virtxend serves libvirt's Xen (libxl) driver on the local sockets, so that
virsh -c xen:///system and every libvirt client manage this host's Xen domains.
See virtxend(8).
`

var errUsage = errors.New("usage")

// parseArgs reads the options the way getopt_long does for libvirt's daemons: short options may be grouped
// (-dv), and an option's value may be attached (-f/etc/x, --config=/etc/x) or be the next argument.
func parseArgs(args []string) (*options, error) {
	o := &options{}
	value := func(i *int, name, attached string, hasAttached bool) (string, error) {
		if hasAttached {
			return attached, nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("option '%s' requires an argument", name)
		}
		*i++
		return args[*i], nil
	}
	setTimeout := func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid value for timeout: %q", v)
		}
		o.timeout = n
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return nil, fmt.Errorf("unexpected argument '%s'", args[i+1])
			}
			return o, nil
		case strings.HasPrefix(a, "--"):
			name, val, has := strings.Cut(a[2:], "=")
			var err error
			switch name {
			case "help":
				o.help = true
			case "version":
				o.version = true
			case "daemon":
				o.daemon = true
			case "verbose":
				o.verbose = true
			case "config":
				o.config, err = value(&i, "--config", val, has)
			case "pid-file":
				o.pidFile, err = value(&i, "--pid-file", val, has)
			case "timeout":
				var v string
				if v, err = value(&i, "--timeout", val, has); err == nil {
					err = setTimeout(v)
				}
			default:
				return nil, fmt.Errorf("unrecognized option '%s'", a)
			}
			if err != nil {
				return nil, err
			}
			if has && (name == "help" || name == "version" || name == "daemon" || name == "verbose") {
				return nil, fmt.Errorf("option '--%s' doesn't allow an argument", name)
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				c := a[j]
				rest, hasRest := a[j+1:], j+1 < len(a)
				var err error
				switch c {
				case 'h':
					o.help = true
				case 'd':
					o.daemon = true
				case 'v':
					o.verbose = true
				case 'f', 'p', 't':
					var v string
					if v, err = value(&i, "-"+string(c), rest, hasRest); err != nil {
						return nil, err
					}
					switch c {
					case 'f':
						o.config = v
					case 'p':
						o.pidFile = v
					case 't':
						err = setTimeout(v)
					}
					j = len(a) // the rest of the group was the value
				default:
					return nil, fmt.Errorf("invalid option -- '%c'", c)
				}
				if err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("unexpected argument '%s'", a)
		}
	}
	return o, nil
}
