package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion is set at link time: go build -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion string

// version is farmctl's version: the one set at link time, else what the Go
// toolchain recorded (module version, VCS revision), else "devel".
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if v == "devel" && revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		v += "+" + revision + modified
	}
	return v
}

func runVersion(c *call) error {
	if _, err := c.parseLocal(c.flags(), 0, 0); err != nil {
		return err
	}
	v := struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
	}{version(), runtime.Version(), runtime.GOOS, runtime.GOARCH}
	if c.output == outputJSON {
		return printJSON(c.stdout, v)
	}
	_, err := fmt.Fprintf(c.stdout, "farmctl %s (%s %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
	return err
}

func runHealth(c *call) error {
	if _, err := c.parse(c.flags(), 0, 0); err != nil {
		return err
	}
	h, err := c.client.Health(c.ctx)
	if err != nil {
		return err
	}
	if err := c.show(func(w io.Writer) { fmt.Fprintln(w, h.Status) }); err != nil {
		return err
	}
	if h.Status != "ok" {
		return fmt.Errorf("the farm at %s is %q", c.client.BaseURL(), h.Status)
	}
	return nil
}
