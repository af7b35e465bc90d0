package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// process is one command of a job, run in a process group of its own.
type process struct {
	Args    []string
	Dir     string
	Env     []string
	Stdin   io.Reader
	Log     io.Writer
	Timeout time.Duration // 0: none
	Grace   time.Duration // SIGTERM to SIGKILL
	Kill    <-chan struct{}
}

// outputDrainTimeout bounds the wait for a job's output once its process
// group is dead: a process that left the group (setsid) may hold the pipe.
const outputDrainTimeout = 5 * time.Second

// run starts p and waits for it, killing its whole process group when ctx is
// cancelled, when the timeout passes or when Kill closes. Whatever it left
// running in its group is killed when its main process exits.
func (p process) run(ctx context.Context) Outcome {
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = p.Env
	cmd.Stdin = p.Stdin
	// Its own process group, so that one signal reaches every descendant.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A stdin copy blocked by a grandchild never holds Wait up for long.
	cmd.WaitDelay = outputDrainTimeout
	// The output goes through a pipe we own rather than exec's copier, so
	// that Wait returns when the main process exits even if a leftover
	// background process still holds its end; we then kill the group and
	// drain the pipe.
	pr, pw, err := os.Pipe()
	if err != nil {
		return Failed("start: %v", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		note(p.Log, "cannot start %q: %v", p.Args[0], err)
		return Failed("start %s: %v", p.Args[0], err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(p.Log, pr)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

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
		note(p.Log, "timed out after %s: stopping the process group", p.Timeout)
		waitErr = p.stop(pgid, waited, p.Grace)
	case <-ctx.Done():
		out.Stopped = context.Cause(ctx)
		note(p.Log, "stopping: %v", out.Stopped)
		waitErr = p.stop(pgid, waited, p.Grace)
	case <-p.Kill:
		out.Stopped = errors.New("builder stopping now")
		note(p.Log, "killing the process group: the builder is stopping now")
		waitErr = p.stop(pgid, waited, 0)
	}
	// Leftovers (a background process nobody waited for) die with the job.
	killGroup(pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(outputDrainTimeout):
		note(p.Log, "output still open %s after the job ended; closing it", outputDrainTimeout)
		pr.Close()
		<-copied
	}
	pr.Close()

	switch {
	case out.TimedOut:
		out.Result = farm.StatusFailed
		out.Error = fmt.Sprintf("timeout: the job ran longer than its timeout of %s and was killed", p.Timeout)
	case out.Stopped != nil:
		out.Result = farm.StatusCancelled
		out.Error = fmt.Sprintf("stopped: %v", out.Stopped)
	case waitErr == nil:
		out.Result = farm.StatusSucceeded
		code := 0
		out.ExitCode = &code
	default:
		out.Result = farm.StatusFailed
		out.Error = waitErr.Error()
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) && ee.Exited() {
			code := ee.ExitCode()
			out.ExitCode = &code
		}
		note(p.Log, "%s", out.Error)
	}
	return out
}

// stop sends SIGTERM to the group, then SIGKILL when grace passes (or at
// once when Kill closes), and returns the main process's exit.
func (p process) stop(pgid int, waited <-chan error, grace time.Duration) error {
	if grace <= 0 {
		killGroup(pgid, syscall.SIGKILL)
		return <-waited
	}
	killGroup(pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-waited:
		return err
	case <-t.C:
		note(p.Log, "still running %s after SIGTERM: SIGKILL", grace)
	case <-p.Kill:
	}
	killGroup(pgid, syscall.SIGKILL)
	return <-waited
}

// killGroup signals every process of a group. ESRCH (the group is gone) is
// the normal end of a job, not an error.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 1 {
		syscall.Kill(-pgid, sig)
	}
}
