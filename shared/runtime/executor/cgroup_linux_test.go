package executor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Empty job cgroups a killed builder left behind are swept; one that still
// holds a process, or is not a job's, is kept.
func TestSweepStaleCgroups(t *testing.T) {
	t.Parallel()
	parent, err := cgroupParent()
	if err != nil || os.Geteuid() != 0 {
		t.Skipf("\n*** no usable cgroup v2 as root here (%v): nothing to sweep", err)
	}
	dir := filepath.Join(parent, "sweep-test-"+randomSuffix())
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	stale, busy, other := filepath.Join(dir, "job-stale"), filepath.Join(dir, "job-busy"), filepath.Join(dir, "mine")
	for _, d := range []string{stale, busy, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Rmdir(d) })
	}
	fd, err := os.Open(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	sleeper := exec.Command("sleep", "1000")
	sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	procs, _ := os.ReadFile(filepath.Join(busy, "cgroup.procs"))
	if string(procs) != strconv.Itoa(sleeper.Process.Pid)+"\n" {
		t.Fatalf("the sleeper is not in its cgroup: %q", procs)
	}

	sweepStaleCgroups(dir, time.Hour) // nothing is that old
	for _, d := range []string{stale, busy, other} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s swept too early: %v", d, err)
		}
	}
	sweepStaleCgroups(dir, 0)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale cgroup is still there: %v", err)
	}
	for _, d := range []string{busy, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was swept: %v", d, err)
		}
	}
}

func TestOwnCgroupDirHoldsThisProcess(t *testing.T) {
	t.Parallel()
	dir, err := ownCgroupDir()
	if err != nil {
		t.Skipf("\n*** no cgroup v2 hierarchy here: %v", err)
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range splitFields(string(procs)) {
		found = found || f == strconv.Itoa(os.Getpid())
	}
	if !found {
		t.Fatalf("this process is not in %s", dir)
	}
	if got := unescapeMount(`/mnt/with\040space\134x`); got != `/mnt/with space\x` {
		t.Fatalf("unescapeMount: %q", got)
	}
}
