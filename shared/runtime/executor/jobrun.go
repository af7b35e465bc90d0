package executor

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// jobRun is a run's private files beside its work dir, <work dir>.job/: its
// HOME and TMPDIR, its payload (FARM_PAYLOAD_FILE) and its script. Files
// rather than argv or the environment: a 200 KiB script is fine, and no
// other user reads it in /proc/*/cmdline. Removed when the run ends.
type jobRun struct {
	dir, home, tmp, payload, script string
}

// newJobRun makes the run's files and, for a job user, hands the work dir
// and them over to it.
func newJobRun(t *Task, iso *Isolation, script string) (*jobRun, error) {
	dir := t.WorkDir + ".job"
	r := &jobRun{dir: dir, home: filepath.Join(dir, "home"), tmp: filepath.Join(dir, "tmp"), payload: filepath.Join(dir, "payload.json")}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	for _, d := range []string{dir, r.home, r.tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	payload := t.Job.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if err := os.WriteFile(r.payload, payload, 0o600); err != nil {
		return nil, err
	}
	if script != "" {
		r.script = filepath.Join(dir, "script.sh")
		if err := os.WriteFile(r.script, []byte(script), 0o600); err != nil {
			return nil, err
		}
	}
	if u := iso.User; u != nil {
		if err := reachable(filepath.Dir(t.WorkDir), t.Log); err != nil {
			return nil, err
		}
		for _, d := range []string{t.WorkDir, dir} {
			if err := chownTree(d, u.UID, u.GID); err != nil {
				return nil, err
			}
		}
		// The job's own files are for it (and root) alone.
		if err := os.Chmod(t.WorkDir, 0o700); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *jobRun) remove() error { return os.RemoveAll(r.dir) }

// chownTree gives a tree to the job user. Symlinks are changed, never
// followed.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// reachable makes sure every directory from dir up to / lets others search
// it (o+x, never o+r): the job user must reach its work dir by its path.
// A directory that did not is changed and the change noted in the log.
func reachable(dir string, log io.Writer) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); mode&0o001 == 0 {
			if err := os.Chmod(d, mode|0o001); err != nil {
				return fmt.Errorf("the job user cannot reach %s: %w", d, err)
			}
			note(log, "made %s searchable by others (o+x) so that the job user reaches its work dir", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
