package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The shipped files show each key on a line of its own, "#key = value"; prose lines start with "# " or are a
// lone "#".
var keyLine = regexp.MustCompile(`^#([a-z][a-z0-9_]*) = `)

type shippedFile struct {
	path     string
	fields   []field
	defaults any
	parse    func(name string, data []byte) (any, []Warning, error)
}

func shippedFiles() []shippedFile {
	return []shippedFile{
		{"virtxend.conf", fieldsOf(reflect.TypeFor[Daemon]()), DefaultDaemon(),
			func(name string, data []byte) (any, []Warning, error) {
				d, err := ParseDaemon(name, data)
				if err != nil {
					return nil, nil, err
				}
				return d, d.Warnings(), nil
			}},
		{"libxl.conf", fieldsOf(reflect.TypeFor[Libxl]()), DefaultLibxl(),
			func(name string, data []byte) (any, []Warning, error) {
				l, err := ParseLibxl(name, data)
				if err != nil {
					return nil, nil, err
				}
				return l, l.Warnings(), nil
			}},
	}
}

// uncomment activates the key lines of the keys keep accepts.
func uncomment(lines []string, keep func(key string) bool) string {
	out := slices.Clone(lines)
	for i, l := range out {
		if m := keyLine.FindStringSubmatch(l); m != nil && keep(m[1]) {
			out[i] = l[1:]
		}
	}
	return strings.Join(out, "\n")
}

func TestShippedFiles(t *testing.T) {
	for _, sf := range shippedFiles() {
		t.Run(sf.path, func(t *testing.T) {
			data, err := os.ReadFile(sf.path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(data), "\n")

			var documented []string
			for i, l := range lines {
				if m := keyLine.FindStringSubmatch(l); m != nil {
					documented = append(documented, m[1])
				} else if strings.HasPrefix(l, "#") && l != "#" && !strings.HasPrefix(l, "# ") && !strings.HasPrefix(l, "##") {
					t.Errorf("%s:%d: neither prose (\"# ...\") nor a key line (\"#key = value\"): %q", sf.path, i+1, l)
				}
			}
			var known []string
			unset := map[string]bool{}
			for _, fd := range sf.fields {
				known = append(known, fd.key)
				unset[fd.key] = fd.unset
			}
			if !slices.Equal(documented, known) {
				t.Errorf("%s documents the keys\n%v\nbut the type has, in order,\n%v", sf.path, documented, known)
			}

			// As shipped, everything is commented out.
			got, warns, err := sf.parse(sf.path, data)
			if err != nil || len(warns) != 0 || !reflect.DeepEqual(got, sf.defaults) {
				t.Errorf("as shipped: %+v, warnings %v, error %v; want the defaults", got, warns, err)
			}

			// Uncommenting the defaults changes nothing.
			got, warns, err = sf.parse(sf.path, []byte(uncomment(lines, func(k string) bool { return !unset[k] })))
			if err != nil {
				t.Fatalf("defaults uncommented: %v", err)
			}
			if len(warns) != 0 || !reflect.DeepEqual(got, sf.defaults) {
				t.Errorf("defaults uncommented: %+v, warnings %v\nwant %+v", got, warns, sf.defaults)
			}

			// Uncommenting everything, examples included, gives a valid file in which only the examples
			// differ from the defaults.
			all, warns, err := sf.parse(sf.path, []byte(uncomment(lines, func(string) bool { return true })))
			if err != nil {
				t.Fatalf("everything uncommented: %v", err)
			}
			if len(warns) != 0 {
				t.Errorf("everything uncommented: warnings %v", warns)
			}
			a, r := diffFields(sf.defaults, all)
			var examples []string
			for _, fd := range sf.fields {
				if fd.unset {
					examples = append(examples, fd.key)
				}
			}
			changed := slices.Concat(a, r)
			slices.Sort(changed)
			slices.Sort(examples)
			if !slices.Equal(changed, examples) {
				t.Errorf("uncommenting everything changes %v, want just the examples %v", changed, examples)
			}
		})
	}
}

// TestShippedReloadNotes checks that exactly the keys a SIGHUP applies say "Reloaded on SIGHUP." in the
// comment above them.
func TestShippedReloadNotes(t *testing.T) {
	data, err := os.ReadFile("virtxend.conf")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	reload := map[string]bool{}
	for _, fd := range fieldsOf(reflect.TypeFor[Daemon]()) {
		reload[fd.key] = fd.reload
	}
	for i, l := range lines {
		m := keyLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		// The comment above a key, past the key lines grouped with it, up to a blank line.
		var prose []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			if !keyLine.MatchString(lines[j]) {
				prose = append(prose, strings.TrimPrefix(lines[j], "#"))
			}
		}
		slices.Reverse(prose)
		text := strings.Join(strings.Fields(strings.Join(prose, " ")), " ")
		if says := strings.Contains(text, "Reloaded on SIGHUP."); says != reload[m[1]] {
			t.Errorf("virtxend.conf:%d: %s: the comment says reloaded=%v, the Daemon type says %v",
				i+1, m[1], says, reload[m[1]])
		}
	}
}

// TestLibvirtTemplates takes libvirt's own virtxend.conf and libxl.conf from the pinned libvirt release
// (libvirtFile) and checks that virtxend knows every key they document, and documents nothing libvirt lacks
// apart from its own keys.
func TestLibvirtTemplates(t *testing.T) {
	own := []string{"hypervisor", "domains_dir", "defines_dir", "state_dir", "libxl_config_file", "resync_interval",
		"secondary_sock_dir", "metrics_listen", "sim_memory", "sim_cpus", "sim_numa_nodes",
		"fleet_kubeconfig", "fleet_node_name", "fleet_namespace", "fleet_qps", "fleet_burst",
		"migration_address", "migration_port_min", "migration_port_max"}
	anyKey := regexp.MustCompile(`^#?([a-z][a-z0-9_]*)\s*=`)
	for _, sf := range shippedFiles() {
		t.Run(sf.path, func(t *testing.T) {
			data := libvirtFile(t, sf.path)
			seen := map[string]bool{}
			for _, l := range strings.Split(string(data), "\n") {
				m := anyKey.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				seen[m[1]] = true
				known := slices.ContainsFunc(sf.fields, func(fd field) bool { return fd.key == m[1] })
				if !known && ignoredDaemonKey(m[1]) == "" {
					t.Errorf("libvirt documents %s, which virtxend neither reads nor explains", m[1])
				}
			}
			for _, fd := range sf.fields {
				if !seen[fd.key] && !slices.Contains(own, fd.key) {
					t.Errorf("virtxend reads %s, which libvirt's template does not document", fd.key)
				}
			}
		})
	}
}
