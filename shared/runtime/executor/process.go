package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// process is one command of a job, run with the builder's isolation: in its
// own namespaces under a small init (see jobinit_linux.go), or in a process
// group of its own, and in a cgroup of its own where there is one.
type process struct {
	Args    []string
	Dir     string
	Env     []string
	Stdin   io.Reader
	Log     io.Writer
	Timeout time.Duration // 0: none
	Grace   time.Duration // SIGTERM to SIGKILL
	Kill    <-chan struct{}
	Iso     *Isolation
	// Name names the job's cgroup (unique per run).
	Name string
}

// outputDrainTimeout bounds the wait for a job's output once its processes
// are dead: a process that escaped them (setsid, without namespaces or a
// cgroup) may hold the pipe.
const outputDrainTimeout = 5 * time.Second

// ending is how a job's main process ended.
type ending struct {
	code        *int   // it exited with this code
	err         string // why it did not succeed ("" on exit 0)
	startFailed bool   // it never ran (no such command, isolation failed)
}

// run starts p and waits for it, stopping all of it when ctx is cancelled,
// when the timeout passes or when Kill closes. Whatever it left running is
// killed when its main process exits.
func (p process) run(ctx context.Context) Outcome {
	// The output goes through a pipe we own rather than exec's copier, so
	// that Wait returns when the main process exits even if a leftover
	// still holds its end; we then kill the leftovers and drain the pipe.
	pr, pw, err := os.Pipe()
	if err != nil {
		return Failed("start: %v", err)
	}
	l, err := p.launch(pw)
	pw.Close()
	if err != nil {
		pr.Close()
		note(p.Log, "cannot start %q: %v", p.Args[0], err)
		return Failed("start %s: %v", p.Args[0], err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(p.Log, pr)
	}()
	waited := make(chan error, 1)
	go func() { waited <- l.cmd.Wait() }()

	var timeout <-chan time.Time
	if p.Timeout > 0 {
		t := time.NewTimer(p.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var (
		out     Outcome
		waitErr error
	)
	select {
	case waitErr = <-waited:
	case <-timeout:
		out.TimedOut = true
		note(p.Log, "timed out after %s: stopping every process of the job", p.Timeout)
		waitErr = p.stop(l, waited, p.Grace)
	case <-ctx.Done():
		out.Stopped = context.Cause(ctx)
		note(p.Log, "stopping: %v", out.Stopped)
		waitErr = p.stop(l, waited, p.Grace)
	case <-p.Kill:
		out.Stopped = errors.New("builder stopping now")
		note(p.Log, "killing every process of the job: the builder is stopping now")
		waitErr = p.stop(l, waited, 0)
	}
	// Leftovers (a background process nobody waited for) die with the job.
	l.killAll()
	select {
	case <-copied:
	case <-time.After(outputDrainTimeout):
		note(p.Log, "output still open %s after the job ended; closing it", outputDrainTimeout)
		pr.Close()
		<-copied
	}
	pr.Close()
	end := l.ending(waitErr)
	if err := l.cleanup(); err != nil {
		note(p.Log, "%v", err)
	}

	switch {
	case out.TimedOut:
		out.Result = farm.StatusFailed
		out.Error = fmt.Sprintf("timeout: the job ran longer than its timeout of %s and was killed", p.Timeout)
	case out.Stopped != nil:
		out.Result = farm.StatusCancelled
		out.Error = fmt.Sprintf("stopped: %v", out.Stopped)
	case end.startFailed:
		note(p.Log, "cannot start %q: %s", p.Args[0], end.err)
		return Failed("start %s: %s", p.Args[0], end.err)
	case end.err == "":
		out.Result = farm.StatusSucceeded
		code := 0
		out.ExitCode = &code
	default:
		out.Result = farm.StatusFailed
		out.Error = end.err
		out.ExitCode = end.code
		note(p.Log, "%s", out.Error)
	}
	return out
}

// stop sends SIGTERM to every process of the job, then SIGKILL when grace
// passes (or at once when Kill closes), and returns the main process's exit.
func (p process) stop(l *launched, waited <-chan error, grace time.Duration) error {
	if grace <= 0 {
		l.killAll()
		return <-waited
	}
	l.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-waited:
		return err
	case <-t.C:
		note(p.Log, "still running %s after SIGTERM: SIGKILL", grace)
	case <-p.Kill:
	}
	l.killAll()
	return <-waited
}

// killGroup signals every process of a group. ESRCH (the group is gone) is
// the normal end of a job, not an error.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 1 {
		syscall.Kill(-pgid, sig)
	}
}
