package main

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// setting is a string flag that remembers whether it was given. Its String is
// empty on purpose: flag prints it as the default in -h, and a value typed on
// the command line (a token) must never be echoed back.
type setting struct {
	value string
	given bool
}

func (s *setting) String() string { return "" }

func (s *setting) Set(v string) error {
	s.value, s.given = v, true
	return nil
}

// resolve returns the flag's value when given, else the environment's, else def.
func (s *setting) resolve(getenv func(string) string, env, def string) string {
	if s.given {
		return s.value
	}
	if v := getenv(env); v != "" {
		return v
	}
	return def
}

// attrs is a repeatable key=value flag (--attr region=eu --attr size=xl).
type attrs map[string]string

func (a attrs) String() string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + a[k]
	}
	return strings.Join(parts, ",")
}

func (a attrs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, not %q", v)
	}
	a[k] = val
	return nil
}

// parseArgs parses flags wherever they are among args. Go's flag package
// stops at the first positional argument, but farmctl's usage puts flags
// after names (`builders disable NAME --reason R`). "--" ends the flags; a
// negative number ("-5") is a positional argument, not a flag.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		arg := args[0]
		switch {
		case arg == "--":
			return append(positional, args[1:]...), nil
		case isFlag(arg):
			// Hand flag exactly this flag and, when it takes a separate value, the next argument.
			n := 1
			if needsValue(fs, arg) && len(args) > 1 {
				n = 2
			}
			if err := fs.Parse(args[:n]); err != nil {
				return nil, err
			}
			args = args[n:]
		default:
			positional = append(positional, arg)
			args = args[1:]
		}
	}
	return positional, nil
}

func isFlag(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(arg, 64)
	return err != nil
}

// needsValue reports whether arg is a non-boolean flag without "=value".
func needsValue(fs *flag.FlagSet, arg string) bool {
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// givenFlags names the flags set on the command line, so that a request
// carries only the fields the user chose (the farm's defaults apply to the rest).
func givenFlags(fs *flag.FlagSet) map[string]bool {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return given
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
