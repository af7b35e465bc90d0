package main

import (
	"os"
	"strings"
	"testing"
)

// The bare-metal install path (scripts/farm-builder.service) runs the agent
// as root, so that jobs run as the job user in cgroups of its own, and
// hands it the token as a file only the service reads: never a command
// line or the environment.
func TestSystemdUnitIsolatesJobsAndKeepsTheTokenInAFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../scripts/farm-builder.service")
	if err != nil {
		t.Fatal(err)
	}
	var directives []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			directives = append(directives, line)
		}
	}
	unit := "\n" + strings.Join(directives, "\n") + "\n"
	for _, want := range []string{
		"\nUser=root\n", "\nLoadCredential=token:/etc/farm-builder/token\n", "\nEnvironment=FARM_TOKEN_FILE=%d/token\n",
		"\nEnvironment=FARM_JOB_USER=farm-job\n", "\nDelegate=yes\n", "\nKillMode=mixed\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:%s", strings.TrimSpace(want), unit)
		}
	}
	for _, bad := range []string{"FARM_TOKEN=", "--token ", "--token="} {
		if strings.Contains(unit, bad) {
			t.Errorf("unit passes the token as %q", bad)
		}
	}
	if !strings.Contains(string(raw), "useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin farm-job") {
		t.Error("the install notes do not create the job user")
	}
}
