package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A job's result goes to the spool (spool.go) before it is sent, and
// leaves it once the farm answered: accepted, or refused for good (the
// claim is stale: the job is someone else's now, and the result is
// dropped with a log line). While the farm is unreachable the completion
// is retried with backoff, and at once when a heartbeat gets through
// again; a completion that gives up (CompleteTimeout, a hard stop) leaves
// its result in the spool for the replays: after the next heartbeat that
// gets through, and at the next start, before registering.

// verdict is what to do after one completion attempt.
type verdict int

const (
	verdictSettled  verdict = iota // answered for good: forget the result
	verdictRetryNow                // the request was amended: send it again now
	verdictWait                    // the farm is unreachable: send it again later
)

// settle judges one completion attempt's answer, amending req when the farm
// refused part of it.
func settle(log *slog.Logger, err error, req *apiv1.CompleteRequest) verdict {
	switch {
	case err == nil:
		log.Info("job completed", "result", req.Result, "artifacts", len(req.Artifacts))
		return verdictSettled
	case farm.IsCode(err, farm.EConflict) || farm.IsCode(err, farm.ENotFound):
		log.Warn("completion refused: the claim is stale; the job belongs to someone else: result dropped", "err", err, "result", req.Result)
		return verdictSettled
	case farm.IsCode(err, farm.EInvalid) && req.Result == string(farm.StatusCancelled):
		// The job is no longer being cancelled on the farm's side (say,
		// retried meanwhile): report the stop as a failure instead.
		req.Result = string(farm.StatusFailed)
		return verdictRetryNow
	case farm.IsCode(err, farm.EInvalid) && len(req.Artifacts) > 0:
		// The farm refused the artifact list: report a failure without it
		// rather than leave the job running until its lease expires.
		log.Warn("completion refused; completing failed without artifacts", "err", err)
		req.Result, req.ExitCode, req.Artifacts = string(farm.StatusFailed), nil, nil
		req.Error = "the farm refused the completion: " + farm.ErrorMessage(err)
		return verdictRetryNow
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// We stopped waiting (a hard stop, CompleteTimeout): the farm never
		// answered, so the result stays spooled.
		return verdictWait
	case !temporary(err):
		log.Error("completion refused", "err", err, "result", req.Result)
		return verdictSettled
	}
	return verdictWait
}

// complete reports a job's result, fenced by the claim token, retrying
// while the farm is unreachable (see above).
func (a *Agent) complete(j *runningJob, req apiv1.CompleteRequest) {
	ctx, cancel := context.WithTimeout(a.hardCtx, a.cfg.CompleteTimeout)
	defer cancel()
	entry := a.spoolResult(j, req)
	bo := a.newBackoff()
	for {
		_, err := a.api.CompleteJob(ctx, j.id, req)
		a.countCompleted(err)
		switch settle(j.logger, err, &req) {
		case verdictSettled:
			a.forgetResult(entry)
			return
		case verdictRetryNow:
			continue
		}
		wait := bo.next()
		j.logger.Warn("completion failed; retrying", "err", err, "retry_in", wait.String())
		if !a.sleepUnlessRecovered(ctx, wait) {
			if entry != "" {
				a.spool.release(entry)
				j.logger.Error("completion given up for now: the spooled result is sent again once the farm answers", "err", ctx.Err())
				return
			}
			j.logger.Error("completion abandoned; the farm's reaper handles the job when its lease expires", "err", ctx.Err())
			return
		}
	}
}

// spoolResult keeps req on disk until the farm answers it ("" when there
// is no spool or the write failed: the result then lives in memory only).
func (a *Agent) spoolResult(j *runningJob, req apiv1.CompleteRequest) string {
	if a.spool == nil {
		return ""
	}
	entry, err := a.spool.add(j.id, req)
	if err != nil {
		j.logger.Warn("result not spooled; it is sent from memory only", "err", err)
		return ""
	}
	return entry
}

func (a *Agent) forgetResult(entry string) {
	if a.spool != nil && entry != "" {
		a.spool.remove(entry)
	}
}

// replaySpool sends the spooled results no completion loop of this run
// owns, oldest first, and stops at the first the farm cannot be reached
// for (returning that error). One replay runs at a time.
func (a *Agent) replaySpool(ctx context.Context) error {
	if a.spool == nil {
		return nil
	}
	a.replayMu.Lock()
	defer a.replayMu.Unlock()
	entries, err := a.spool.pending()
	if err != nil {
		a.log.Warn("spool not read", "err", err)
		return nil
	}
	for _, e := range entries {
		log := a.log.With("job_id", e.JobID, "spooled_at", e.SpooledAt)
		log.Info("sending a spooled result", "result", e.Request.Result)
		for {
			_, err := a.api.CompleteJob(ctx, e.JobID, e.Request)
			a.countCompleted(err)
			v := settle(log, err, &e.Request)
			if v == verdictRetryNow {
				continue
			}
			if v == verdictWait {
				return err
			}
			a.spool.remove(e.name)
			break
		}
	}
	return nil
}

// recoveredCh is closed when a heartbeat gets through after one failed.
func (a *Agent) recoveredCh() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recovered
}

// heartbeatAnswered notes a heartbeat's fate: the first that gets through
// after a failure wakes the completions waiting out a backoff and replays
// the spool.
func (a *Agent) heartbeatAnswered(ok bool) {
	a.mu.Lock()
	back := ok && a.beatFailed
	a.beatFailed = !ok
	if back {
		close(a.recovered)
		a.recovered = make(chan struct{})
	}
	a.mu.Unlock()
	if back {
		a.log.Info("the farm answers again: sending the results it missed")
		a.replays.Go(func() {
			if err := a.replaySpool(a.hardCtx); err != nil {
				a.log.Warn("spool replay stopped; the next heartbeat that gets through retries", "err", err)
				a.mu.Lock()
				a.beatFailed = true
				a.mu.Unlock()
			}
		})
	}
}

// sleepUnlessRecovered waits for d, or less when the farm answers again;
// false when ctx ended.
func (a *Agent) sleepUnlessRecovered(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-a.recoveredCh():
	}
	return true
}

// countCompleted counts a completion the farm accepted: the next heartbeat
// tells the farm how many jobs this builder finished since its last one
// (the builder's item is not written per completion).
func (a *Agent) countCompleted(err error) {
	if err != nil {
		return
	}
	a.mu.Lock()
	a.completed++
	a.mu.Unlock()
}
