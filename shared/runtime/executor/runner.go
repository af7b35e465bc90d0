package executor

import (
	"context"
	"io"
	"strconv"
	"time"
)

// Runner is what the executors that run a process share: the environment
// jobs start from, the stop grace and the isolation.
type Runner struct {
	// BaseEnv is the environment every job starts from (default BuilderEnv()).
	BaseEnv []string
	// KillGrace is the time between SIGTERM and SIGKILL when a job stops.
	KillGrace time.Duration
	// Isolation keeps jobs from the builder (nil: DefaultIsolation()).
	Isolation *Isolation
}

// runCommand runs argv for t, or with script set, sh on a file holding it.
func (r *Runner) runCommand(ctx context.Context, t *Task, argv []string, script string, extra map[string]string, stdin io.Reader) Outcome {
	iso := r.Isolation
	if iso == nil {
		var err error
		if iso, err = DefaultIsolation(); err != nil {
			note(t.Log, "job isolation: %v", err)
			return Failed("job isolation: %v", err)
		}
	}
	run, err := newJobRun(t, iso, script)
	if err != nil {
		note(t.Log, "preparing the job's files: %v", err)
		return Failed("prepare: %v", err)
	}
	defer run.remove()
	if script != "" {
		argv = []string{"sh", run.script}
	}
	base := r.BaseEnv
	if base == nil {
		base = BuilderEnv()
	}
	return process{
		Args:    argv,
		Dir:     t.WorkDir,
		Env:     jobEnv(base, t, run, iso, extra),
		Stdin:   stdin,
		Log:     t.Log,
		Timeout: jobTimeout(t),
		Grace:   r.KillGrace,
		Kill:    t.Kill,
		Iso:     iso,
		Name:    "job-" + t.Job.ID + "-" + strconv.Itoa(t.Job.Attempts),
	}.run(ctx)
}
