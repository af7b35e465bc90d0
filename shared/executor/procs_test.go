package executor_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// markerVar is set in a job's environment (its payload env) by the tests
// that count its processes: every process it starts inherits it, whatever
// namespace or session it ends up in, so scanning /proc/*/environ of the
// host finds them all (pid files would not: the job's pids are its
// namespace's).
const markerVar = "FARM_TEST_MARKER"

func newMarker() string { return "m" + farm.NewSecret(8) }

// markedProcesses lists the live processes (not zombies) whose environment
// holds the marker.
func markedProcesses(marker string) []int {
	want := []byte(markerVar + "=" + marker + "\x00")
	paths, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, p := range paths {
		env, err := os.ReadFile(p + "/environ")
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(p))
		if !processGone(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// waitMarked waits until at least n processes carry the marker.
func waitMarked(t *testing.T, marker string, n int, log *logBuffer) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for len(markedProcesses(marker)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d processes of the job ever ran (%v); log:\n%s", n, markedProcesses(marker), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNoneMarked waits until no process carries the marker: every process
// of the job died with it. The wait only covers the kernel's reaping; the
// time taken is logged.
func waitNoneMarked(t *testing.T, marker string) {
	t.Helper()
	start := time.Now()
	for {
		left := markedProcesses(marker)
		if len(left) == 0 {
			t.Logf("no process of the job left %v after it ended", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > hangGuard {
			var desc []string
			for _, pid := range left {
				cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				desc = append(desc, strconv.Itoa(pid)+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
			t.Fatalf("processes of the job outlived it:\n%s", strings.Join(desc, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// escapeScript starts processes that leave the job's process group and
// parent every way a shell can: setsid, nohup, a double fork, and a
// double-forked setsid. Then it says so (at least 5 marked processes run:
// the script and 4 sleepers).
const escapeScript = `
setsid sleep 1000 &
nohup sleep 1000 >/dev/null 2>&1 &
(sleep 1000 &)
(setsid sh -c 'sleep 1000' &)
echo escaped
`
