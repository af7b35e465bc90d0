package executor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// cgroupJobsDir is the directory, under the builder's own cgroup, that
// holds one cgroup per running job. It enables no controller, so the
// builder may stay in its own cgroup (cgroup v2 forbids processes only in
// cgroups whose controllers are delegated to children).
const cgroupJobsDir = "farm-jobs"

// cgroupParent finds the builder's own cgroup on the cgroup v2 hierarchy
// (the main one on EC2's AL2023; /sys/fs/cgroup/unified on hybrid systems)
// and returns its farm-jobs directory, made if needed.
func cgroupParent() (string, error) {
	own, err := ownCgroupDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(own, cgroupJobsDir)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	sweepStaleCgroups(dir, time.Minute)
	return dir, nil
}

// sweepStaleCgroups removes the empty job cgroups a builder killed outright
// left behind (its jobs died with it; nobody removed their cgroups). A
// cgroup that still holds a process cannot be removed, and a live builder
// removes its own within moments of its job's end, so an empty one older
// than age is nobody's.
func sweepStaleCgroups(dir string, age time.Duration) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "job-") && !strings.HasPrefix(e.Name(), "probe-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			syscall.Rmdir(filepath.Join(dir, e.Name()))
		}
	}
}

func ownCgroupDir() (string, error) {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	rel, found := "", false
	for _, line := range strings.Split(string(raw), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = r, true
		}
	}
	if !found {
		return "", errors.New("this process is on no cgroup v2 hierarchy")
	}
	mounts, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer mounts.Close()
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source super
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		root, point := unescapeMount(f[3]), unescapeMount(f[4])
		if root == "/" {
			return filepath.Join(point, rel), nil
		}
		if rest, ok := strings.CutPrefix(rel, root); ok && (rest == "" || rest[0] == '/') {
			return filepath.Join(point, rest), nil
		}
	}
	return "", errors.New("cgroup v2 is not mounted")
}

// unescapeMount undoes mountinfo's octal escapes (\040 is a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroup is one job's cgroup; dir is open for clone3's CLONE_INTO_CGROUP, so
// that the job is in it from its first instruction.
type cgroup struct {
	path string
	dir  *os.File
}

func newCgroup(parent, name string) (*cgroup, error) {
	path := filepath.Join(parent, name+"-"+randomSuffix())
	if err := os.Mkdir(path, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	dir, err := os.Open(path)
	if err != nil {
		syscall.Rmdir(path)
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return &cgroup{path: path, dir: dir}, nil
}

func randomSuffix() string { return farm.NewSecret(4) }

// kill kills every process in the cgroup: cgroup.kill (Linux 5.14), or on
// older kernels SIGKILL to each member, frozen first so none can fork away.
func (c *cgroup) kill() {
	if os.WriteFile(filepath.Join(c.path, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	freeze := filepath.Join(c.path, "cgroup.freeze")
	frozen := os.WriteFile(freeze, []byte("1"), 0) == nil
	for range 100 {
		pids := c.pids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if frozen {
		os.WriteFile(freeze, []byte("0"), 0)
	}
}

func (c *cgroup) pids() []int {
	raw, _ := os.ReadFile(filepath.Join(c.path, "cgroup.procs"))
	var out []int
	for _, f := range bytes.Fields(raw) {
		if pid, err := strconv.Atoi(string(f)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// remove kills what is left in the cgroup and removes it.
func (c *cgroup) remove() error {
	c.dir.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Rmdir(c.path)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("job cgroup %s not removed: %v", c.path, err)
		}
		c.kill()
		time.Sleep(10 * time.Millisecond)
	}
}
