package agent

import (
	"context"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// heartbeatLoop heartbeats right away and then every heartbeat interval (the
// farm's, which a heartbeat answer may change), and whenever asked to.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.beatCh:
		}
		started := time.Now()
		a.beat(ctx)
		// The next beat is due one interval after this one started, not after
		// it answered: a slow farm must not stretch the period, since a
		// cancel reaches its job only with a heartbeat's answer.
		interval, _ := a.timing()
		t.Reset(max(0, interval-time.Since(started)))
	}
}

// sentChunk is the log a heartbeat carried for one job.
type sentChunk struct {
	job   *runningJob
	chunk logChunk
}

// beat sends one heartbeat with every running job and applies the answer.
func (a *Agent) beat(ctx context.Context) {
	a.mu.Lock()
	running := make([]*runningJob, 0, len(a.jobs))
	for _, j := range a.jobs {
		running = append(running, j)
	}
	draining := a.draining
	interval := a.heartbeat
	completed := a.completed
	a.mu.Unlock()

	req := apiv1.HeartbeatRequest{Jobs: make([]apiv1.HeartbeatJob, 0, len(running)), Draining: draining, JobsCompleted: completed}
	sent := make([]sentChunk, 0, len(running))
	perJob := a.cfg.MaxLogChunk
	if len(running) > 0 {
		perJob = min(perJob, a.cfg.MaxHeartbeatLog/len(running))
	}
	for _, j := range running {
		j.beating.RLock()
		c := j.log.Take(perJob)
		sent = append(sent, sentChunk{j, c})
		hj := apiv1.HeartbeatJob{ID: j.id, ClaimToken: j.token, Log: c.Text(), Progress: j.Progress()}
		if !c.empty() {
			offset := c.offset
			hj.LogOffset = &offset
		}
		req.Jobs = append(req.Jobs, hj)
	}
	// The jobs' completions wait until this beat's renewals are applied.
	doneBeating := sync.OnceFunc(func() {
		for _, j := range running {
			j.beating.RUnlock()
		}
	})
	defer doneBeating()
	restore := func() {
		for _, s := range sent {
			if !s.chunk.empty() {
				s.job.log.Restore(s.chunk)
			}
		}
	}

	bctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
	defer cancel()
	seen := a.registrations()
	resp, err := a.api.Heartbeat(bctx, a.cfg.Name, req)
	a.heartbeatAnswered(err == nil || resp != nil || !temporary(err))
	if err == nil || resp != nil {
		a.mu.Lock()
		a.completed -= completed
		a.mu.Unlock()
	}
	switch {
	case err == nil:
		a.applyHeartbeat(resp)
	case farm.IsCode(err, farm.EConflict) && resp != nil:
		// Some claims are stale: the farm gave those jobs to someone else
		// (our lease expired while we were paused or cut off). The valid
		// ones were renewed and their log appended.
		a.log.Warn("heartbeat conflict: some claims are no longer ours", "err", err)
		a.applyHeartbeat(resp)
	case farm.IsCode(err, farm.ETooLarge):
		// Sending the same text again would be refused again.
		for _, s := range sent {
			s.job.log.Drop(s.chunk)
		}
		a.log.Warn("heartbeat too large for the farm: its log text was dropped (the full log is uploaded at the end)", "err", err)
	case farm.IsCode(err, farm.ENotFound):
		restore()
		doneBeating() // it renewed nothing: no completion waits for the registration
		a.log.Warn("the farm does not know this builder; registering again", "err", err)
		a.reregister(seen)
	default:
		restore()
		if ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "err", err, "jobs", len(req.Jobs))
		}
	}
}

// applyHeartbeat takes the farm's timing, drain flag and directives. A
// cancel whose claim is lost fences the job off: stopped and never completed
// by us. A plain cancel (a user's) stops it and reports it cancelled, even
// when the same answer is a conflict about other jobs.
func (a *Agent) applyHeartbeat(resp *apiv1.HeartbeatResponse) {
	a.mu.Lock()
	before := a.heartbeat
	a.setTimingLocked(resp.HeartbeatSeconds, resp.LeaseSeconds)
	after := a.heartbeat
	lifted := a.farmDrain && !resp.Drain
	if a.farmDrain != resp.Drain {
		a.farmDrain = resp.Drain
		a.broadcastLocked()
	}
	a.mu.Unlock()
	if before != after {
		a.log.Info("heartbeat interval changed", "heartbeat_seconds", after.Seconds())
	}
	if resp.Drain && !lifted {
		a.log.Debug("the farm asks this builder to drain: claiming nothing")
	}
	if lifted {
		a.log.Info("the farm lifted its drain: claiming again")
		a.claimSoon(a.cfg.Spec.Pools...)
	}
	for _, r := range resp.Renewed {
		a.mu.Lock()
		j := a.jobs[r.JobID]
		a.mu.Unlock()
		if j != nil {
			j.renewed(r.Version)
		}
	}
	for _, d := range resp.Directives {
		switch d.Action {
		case apiv1.ActionCancel:
			a.mu.Lock()
			j := a.jobs[d.JobID]
			a.mu.Unlock()
			if j == nil {
				a.log.Debug("cancel for a job not running here", "job_id", d.JobID)
				continue
			}
			if d.ClaimLost {
				j.fence(d.Reason)
			} else {
				j.cancelByFarm(d.Reason)
			}
		case apiv1.ActionReregister:
			a.log.Info("the farm asks this builder to register again", "reason", d.Reason)
			a.reregister(forceRegister)
		default:
			a.log.Warn("unknown heartbeat directive ignored", "action", d.Action, "job_id", d.JobID)
		}
	}
}

// reregister PUTs the builder again (the farm forgot it) and claims. seen
// is the number of registrations when the request that met the farm's
// "unknown builder" was sent: when another registration has succeeded since
// (a heartbeat and a claim in flight both meet the same 404), this one is
// not needed. forceRegister asks for one whatever happened meanwhile.
func (a *Agent) reregister(seen int) {
	a.reregisterMu.Lock()
	defer a.reregisterMu.Unlock()
	if seen != forceRegister && a.registrations() != seen {
		return
	}
	ctx, cancel := context.WithTimeout(a.hardCtx, time.Minute)
	defer cancel()
	if err := a.register(ctx); err != nil {
		a.log.Warn("registering again failed; the next heartbeat retries", "err", err)
		return
	}
	a.requestSweep()
}
