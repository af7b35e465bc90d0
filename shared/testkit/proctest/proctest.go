// Package proctest helps tests check that a job's processes live and die
// with it. Jobs run in PID namespaces of their own, so pid files they write
// mean nothing outside; instead a test sets a marker variable in the job's
// environment (its payload env), which every process the job starts
// inherits, and scans the host's /proc/*/environ for it (as root, every
// process; otherwise the test user's own).
package proctest

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

// MarkerVar is the variable a marked job carries.
const MarkerVar = "FARM_TEST_MARKER"

// EscapeScript starts processes that leave the job's process group and
// parent every way a shell can: setsid, nohup, a double fork, and a
// double-forked setsid, then prints "escaped". With the script itself, at
// least 5 marked processes run.
const EscapeScript = `
setsid sleep 1000 &
nohup sleep 1000 >/dev/null 2>&1 &
(sleep 1000 &)
(setsid sh -c 'sleep 1000' &)
echo escaped
`

// EscapedProcesses is how many marked processes EscapeScript leaves running
// (with the shell that ran it).
const EscapedProcesses = 5

// NewMarker returns a marker no other test uses.
func NewMarker() string { return "m" + farm.NewSecret(8) }

// Env is the payload env that marks a job.
func Env(marker string) map[string]string { return map[string]string{MarkerVar: marker} }

// Marked lists the live processes (not zombies) whose environment holds
// the marker.
func Marked(marker string) []int {
	want := []byte(MarkerVar + "=" + marker + "\x00")
	paths, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, p := range paths {
		env, err := os.ReadFile(p + "/environ")
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(p))
		if !Gone(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Gone reports whether pid no longer runs (absent, or a zombie waiting for
// a parent to reap it).
func Gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// WaitAtLeast waits up to limit until at least n processes carry the
// marker; context (a log, say) is shown when they never do.
func WaitAtLeast(t testing.TB, marker string, n int, limit time.Duration, context func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for len(Marked(marker)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d processes of the job ever ran (%v):\n%s", n, Marked(marker), context())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitNone waits until no process carries the marker: every process of
// the job is dead. The wait covers only the kernel's reaping (limit bounds
// a hang, not a speed); the time it took is logged.
func WaitNone(t testing.TB, marker string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		left := Marked(marker)
		if len(left) == 0 {
			t.Logf("no process of the job left %v after it ended", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > limit {
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

// SharedDir returns a new directory jobs may write whatever user they run
// as (mode 0777, its parent searchable): where a test and its jobs meet.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}
