package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// runningJob is a claimed job from its claim to its completion.
type runningJob struct {
	id, token, pool string
	job             *farm.Job
	sourceURL       string
	logUpload       *apiv1.ArtifactURL // the claim's presigned upload of the whole log
	log             *jobLog
	logger          *slog.Logger
	stop            context.CancelCauseFunc
	// freeSlot gives the job's slot back (once; later calls do nothing).
	freeSlot func()

	mu       sync.Mutex
	progress string
	version  int64 // the job's version as the farm's answers last gave it
	// beating is held (read) by each heartbeat that carries the job, from
	// its sending to its answer: a renewal writes the job, so its answer's
	// version is the one a completion must presume.
	beating  sync.RWMutex
	finished bool  // the executor returned: directives no longer stop it
	fenced   error // set when the claim is gone: never complete
	cancel   error // set when the farm cancelled the job
}

// errCancelledByFarm and errClaimLost are the causes that stop a job.
var (
	errCancelledByFarm = errors.New("cancelled by the farm")
	errClaimLost       = errors.New("claim lost: the farm gave this job to another builder")
)

// renewed takes the version a heartbeat's renewal gave the job (answers
// may arrive out of order: the highest is the latest).
func (j *runningJob) renewed(version int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.version = max(j.version, version)
}

// presumedVersion is the job's version as the farm's answers last gave
// it, once no heartbeat carrying the job is on its way (one would renew
// the job, moving its version past what the completion would presume).
func (j *runningJob) presumedVersion() int64 {
	j.beating.Lock()
	//lint:ignore SA2001 an empty critical section: it waits for the heartbeats in flight
	j.beating.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.version
}

func (j *runningJob) Progress() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.progress
}

func (j *runningJob) setProgress(p string) {
	j.mu.Lock()
	j.progress = p
	j.mu.Unlock()
}

// cancelByFarm stops the job; it will be completed as cancelled.
func (j *runningJob) cancelByFarm(reason string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancel != nil || j.fenced != nil {
		return
	}
	j.cancel = withReason(errCancelledByFarm, reason)
	if !j.finished {
		j.logger.Info("cancel directive: stopping the job", "reason", reason)
		j.stop(j.cancel)
	}
}

// fence stops the job and forbids completing it: it is someone else's now.
func (j *runningJob) fence(reason string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fenced != nil {
		return
	}
	j.fenced = withReason(errClaimLost, reason)
	j.logger.Warn("claim lost: stopping the job without completing it", "reason", reason)
	j.stop(j.fenced)
}

func withReason(err error, reason string) error {
	if reason == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, reason)
}

// startJob registers a claimed job (so the next heartbeat renews its lease)
// and runs it in its own goroutine, which owns the caller's slot.
func (a *Agent) startJob(pool string, claim *apiv1.ClaimResponse) {
	job := claim.Job
	jobCtx, stop := context.WithCancelCause(a.hardCtx)
	j := &runningJob{
		id: job.ID, token: claim.ClaimToken, pool: pool, job: job, sourceURL: claim.SourceURL, logUpload: claim.LogUpload,
		logger:   a.log.With("job_id", job.ID, "job_type", job.Type, "attempt", job.Attempts, "pool", pool),
		stop:     stop,
		progress: "starting", version: job.Version,
	}
	j.freeSlot = sync.OnceFunc(a.releaseSlot)
	a.jobsWG.Add(1)
	a.claimed()
	go func() {
		defer a.jobsWG.Done()
		defer j.freeSlot()
		defer stop(nil)
		a.runJob(jobCtx, j)
		a.afterJob()
		// Releasing the slot claims again only from the pools whose last
		// claim said more was queued: a job queued meanwhile rang a
		// doorbell, which the pool's poller receives now that a slot is free.
	}()
}

// runJob runs a job and completes it: workspace, source, executor,
// artifacts, full log, complete. The job stays in the heartbeat until its
// completion is answered, so its lease lives through uploads.
func (a *Agent) runJob(ctx context.Context, j *runningJob) {
	name := j.id + "-" + strconv.Itoa(j.job.Attempts)
	l, err := newJobLog(filepath.Join(a.cfg.WorkDir, name+".log"), a.cfg.MaxLogChunk)
	if err != nil {
		// Without a log file the job still runs; its log then lives in memory only.
		j.logger.Error("job log file", "err", err)
		l = &jobLog{maxChunk: a.cfg.MaxLogChunk, fileErr: err}
	}
	j.log = l
	a.mu.Lock()
	a.jobs[j.id] = j
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		// A job the farm requeued and gave back to us runs under the same id.
		if a.jobs[j.id] == j {
			delete(a.jobs, j.id)
		}
		a.mu.Unlock()
		if l.file != nil {
			l.Close()
			if !a.cfg.KeepWorkDirs {
				l.Remove()
			}
		}
	}()

	j.logger.Info("job claimed", "timeout_seconds", j.job.TimeoutSeconds)
	// The log is the job's own: its id is not repeated there (a small log
	// is stored inline in the job's item, where every byte is paid for).
	note(l, "builder %s, %s job, attempt %d", a.cfg.Name, j.job.Type, j.job.Attempts)
	out, ws := a.execute(ctx, j)
	if ws != nil && !a.cfg.KeepWorkDirs {
		defer func() {
			if err := ws.Remove(); err != nil {
				j.logger.Warn("workspace not removed", "err", err)
			}
		}()
	}

	j.mu.Lock()
	j.finished = true
	fenced, cancelled := j.fenced, j.cancel
	j.mu.Unlock()
	switch {
	case a.hardCtx.Err() != nil:
		j.logger.Warn("builder stopped hard: job abandoned; the farm requeues it when its lease expires", "result", out.Result)
		return
	case fenced != nil:
		note(l, "%v: not completing", fenced)
		j.logger.Warn("job stopped without completing: its claim is gone", "err", fenced)
		return
	case cancelled != nil && out.Stopped != nil:
		out.Result, out.Error = farm.StatusCancelled, cancelled.Error()
	}
	j.logger.Info("job ended", "result", out.Result, "exit_code", out.ExitCode, "error", out.Error)

	// The job as the farm last showed it: the completion is then one
	// write conditional on it, and no read.
	req := apiv1.CompleteRequest{ClaimToken: j.token, Result: string(out.Result), Error: out.Error, ExitCode: out.ExitCode, Run: j.job.Run}
	if ws != nil && out.Result != farm.StatusCancelled {
		j.setProgress("uploading artifacts")
		refs, err := a.uploadArtifacts(ctx, j, ws)
		req.Artifacts = refs
		if err != nil {
			note(l, "artifact upload failed: %v", err)
			j.logger.Warn("artifact upload failed", "err", err)
			if out.Result == farm.StatusSucceeded {
				req.Result, req.ExitCode = string(farm.StatusFailed), nil
				req.Error = "artifact upload: " + err.Error()
			}
		}
	}
	if req.Result != string(farm.StatusSucceeded) {
		// A success needs no line of its own: the job's status says it.
		note(l, "result: %s%s", req.Result, errSuffix(req.Error))
	}
	j.setProgress("completing")
	a.storeLog(j, &req)
	j.mu.Lock()
	fenced = j.fenced
	j.mu.Unlock()
	if fenced != nil {
		// The claim went stale while we uploaded: the result is not ours to give.
		j.logger.Warn("claim lost before completing: result dropped", "err", fenced, "result", req.Result)
		return
	}
	req.Version = j.presumedVersion()
	if a.freesSlotBeforeCompleting(j) {
		// The job has run: its slot may take the next job while the
		// completion is on its way (one API round trip less per job on a
		// busy builder).
		j.freeSlot()
	}
	a.complete(j, req)
}

// freesSlotBeforeCompleting reports whether a job's slot may be given back
// as soon as it has run, before its completion is answered: not when
// something must happen between jobs (a reset command, an ephemeral
// builder's end), nor after a job that leaves the builder dirty (known
// from the builtin job types; an unknown type counts as dirtying), whose
// completion must mark the builder before it claims again.
func (a *Agent) freesSlotBeforeCompleting(j *runningJob) bool {
	if a.cfg.Fleet.ResetCommand != "" || a.cfg.Fleet.Ephemeral {
		return false
	}
	if a.runningCount() > a.cfg.Spec.Slots {
		// Completions are slow to be answered (at most one per slot waits
		// without its slot: the farm bounds what a heartbeat reports).
		return false
	}
	typ, err := builtinTypes.Lookup(j.job.Type)
	return err == nil && !typ.RequiresCleanBuilder()
}

// builtinTypes are the job types every farm knows.
var builtinTypes = farm.DefaultRegistry()

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

// execute prepares the workspace, fetches the source and runs the executor.
func (a *Agent) execute(ctx context.Context, j *runningJob) (executor.Outcome, *executor.Workspace) {
	ws, err := executor.NewWorkspace(a.cfg.WorkDir, j.job)
	if err != nil {
		note(j.log, "%v", err)
		return executor.Failed("%v", err), nil
	}
	if j.sourceURL != "" || hasSource(j.job) {
		j.setProgress("downloading source")
		dctx := ctx
		if t := time.Duration(j.job.TimeoutSeconds) * time.Second; t > 0 {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		if err := ws.FetchSource(dctx, a.cfg.HTTPClient, j.job, j.sourceURL); err != nil {
			note(j.log, "%v", err)
			out := executor.Failed("%v", err)
			if ctx.Err() != nil {
				out.Result, out.Stopped = farm.StatusCancelled, context.Cause(ctx)
			}
			return out, ws
		}
		if ws.SourceFile != "" {
			note(j.log, "source downloaded to %s", ws.SourceFile)
		} else {
			// An s3:// source the farm did not presign: the executor may
			// still fetch it itself (FARM_PAYLOAD_FILE names the payload).
			note(j.log, "the farm gave no source_url for this job's source: nothing downloaded")
		}
	}
	j.setProgress("running")
	return a.cfg.Executors.Execute(ctx, ws.Task(j.job, j.sourceURL, j.log, a.hardCtx.Done())), ws
}

func hasSource(job *farm.Job) bool {
	return executor.SourceName(job) != "source"
}

// note writes one line of the builder's own to a job's log.
func note(l *jobLog, format string, args ...any) {
	fmt.Fprintf(l, "[farm-builder] "+format+"\n", args...)
}
