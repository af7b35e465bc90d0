// Package executor runs one claimed job on a builder: one executor per job
// type. The script type runs its script with sh in a fresh work dir; the
// build types run a command an operator configures (like Buildkite's
// bootstrap or GitLab's shell executor) with the payload as JSON on stdin;
// clean-resource runs its pool's clean script.
//
// Jobs are kept from the builder by its Isolation: as root, each job runs as
// an unprivileged job user, under a small init in PID and mount namespaces of
// its own (a fresh /proc shows only its processes) and in a cgroup of its
// own, so that everything it starts, setsid or not, dies when it ends, is
// cancelled or times out. See isolation.go and docs/security.md.
//
// The package knows nothing about the farm's API: the agent claims, streams
// the log, uploads artifacts and completes; an executor only turns a Task
// into an Outcome.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Task is one run of one claimed job.
type Task struct {
	Job *farm.Job
	// SourceURL is the presigned GET URL of the job's source ("" when none).
	SourceURL string
	// WorkDir is fresh and empty but for the source; commands run in it.
	WorkDir string
	// ArtifactsDir is where a job leaves files to upload as its artifacts.
	ArtifactsDir string
	// SourceFile is the downloaded source ("" when the job has none).
	SourceFile string
	// Log receives the job's stdout and stderr and the executor's own notes.
	Log io.Writer
	// Kill, when closed, kills the job's process group at once, skipping the
	// grace period a cancelled ctx gives (the builder is stopping hard).
	Kill <-chan struct{}
}

// Outcome is how a job run ended.
type Outcome struct {
	// Result is succeeded, failed or cancelled.
	Result farm.JobStatus
	// ExitCode is set when the process exited by itself.
	ExitCode *int
	// Error says why the job did not succeed.
	Error string
	// TimedOut is set when the job ran past its timeout and was killed.
	TimedOut bool
	// Stopped is the cause of the context cancellation that stopped the job.
	Stopped error
}

// Executor runs the jobs of one type. Cancelling ctx stops the job (its
// process group gets SIGTERM, then SIGKILL after a grace period).
type Executor interface {
	Execute(ctx context.Context, t *Task) Outcome
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, t *Task) Outcome

func (f ExecutorFunc) Execute(ctx context.Context, t *Task) Outcome { return f(ctx, t) }

// Failed is a failed Outcome with a formatted error.
func Failed(format string, args ...any) Outcome {
	return Outcome{Result: farm.StatusFailed, Error: fmt.Sprintf(format, args...)}
}

// ErrNoExecutor is the error of a job whose type this builder cannot run.
var ErrNoExecutor = errors.New("no executor configured")

// DefaultKillGrace is how long a stopped job has between SIGTERM and SIGKILL.
const DefaultKillGrace = 10 * time.Second

// Options configure a Set.
type Options struct {
	// KillGrace is the time between SIGTERM and SIGKILL (default 10 s).
	KillGrace time.Duration
	// BaseEnv is the environment every job starts from (default:
	// BuilderEnv(), a short allowlist of the builder's own environment, so
	// that its token and other secrets never reach a job).
	BaseEnv []string
	// Isolation keeps jobs from the builder (default: DefaultIsolation(),
	// the strongest this machine allows).
	Isolation *Isolation
}

// Set dispatches tasks to the executor of their job's type.
type Set struct {
	byType map[string]Executor
	iso    *Isolation
	isoErr error
}

// NewSet returns the built-in executors (script, clean-resource), the
// command executors of cfg (which may also replace the built-ins), and for the
// build types without a command, an executor that fails clearly.
func NewSet(cfg Config, opts Options) *Set {
	if opts.KillGrace <= 0 {
		opts.KillGrace = DefaultKillGrace
	}
	if opts.BaseEnv == nil {
		opts.BaseEnv = BuilderEnv()
	}
	s := &Set{iso: opts.Isolation}
	if s.iso == nil {
		s.iso, s.isoErr = DefaultIsolation()
	}
	runner := Runner{BaseEnv: opts.BaseEnv, KillGrace: opts.KillGrace, Isolation: s.iso}
	s.byType = map[string]Executor{
		farm.TypeScript:        &Script{Runner: runner},
		farm.TypeCleanResource: &CleanResource{Runner: runner},
	}
	for _, typ := range []string{farm.TypeBinaryBuild, farm.TypeLiveImageBuild, farm.TypeRecipeBuild} {
		s.byType[typ] = unconfigured(typ)
	}
	for typ, cc := range cfg {
		grace := opts.KillGrace
		if cc.KillGraceSeconds > 0 {
			grace = time.Duration(cc.KillGraceSeconds) * time.Second
		}
		r := runner
		r.KillGrace = grace
		s.byType[typ] = &Command{Runner: r, Spec: cc}
	}
	return s
}

// Isolation is how the set's jobs are kept from the builder; an error says
// why they cannot be (every job then fails with it).
func (s *Set) Isolation() (*Isolation, error) { return s.iso, s.isoErr }

// Register sets (or replaces) the executor of a job type.
func (s *Set) Register(jobType string, e Executor) { s.byType[jobType] = e }

// Execute runs t with the executor of its job's type.
func (s *Set) Execute(ctx context.Context, t *Task) Outcome {
	e, ok := s.byType[t.Job.Type]
	if !ok {
		e = unconfigured(t.Job.Type)
	}
	return e.Execute(ctx, t)
}

func unconfigured(jobType string) Executor {
	return ExecutorFunc(func(_ context.Context, t *Task) Outcome {
		err := fmt.Errorf("%w for %s on this builder (see --executors)", ErrNoExecutor, jobType)
		note(t.Log, "%v", err)
		return Failed("%v", err)
	})
}

// note writes one line of the builder's own to the job's log.
func note(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "[farm-builder] "+format+"\n", args...)
}
