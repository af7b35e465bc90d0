package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// FleetOptions are the agent's options for elastic and reset builders.
type FleetOptions struct {
	// Ephemeral builders take one job, complete it and stop (Run returns
	// nil); their instance is then replaced — Launchpad's VM reset. They
	// need one slot.
	Ephemeral bool
	// ResetCommand, when set, runs (sh -c, as the agent's user) after every
	// job, before the builder claims again; then the builder registers
	// again, clean. A failed reset drains the builder: it takes no more
	// work until someone looks. It needs one slot.
	ResetCommand string
	// ResetTimeout bounds the reset (default 30 min).
	ResetTimeout time.Duration
	// Interruptions, when set, is watched for a notice that the machine is
	// about to go away (a spot interruption): the agent hands every job it
	// holds back to the farm at once and drains.
	Interruptions Interruptions
	// InterruptionPoll is how often Interruptions is asked (default 5 s;
	// AWS gives two minutes' notice).
	InterruptionPoll time.Duration
}

// Interruptions tells whether the machine is about to be taken away.
type Interruptions interface {
	// Notice returns "" while nothing is announced, or what is.
	Notice(ctx context.Context) (string, error)
}

// handBacker is the API call that gives a job back (*client.Client).
type handBacker interface {
	HandBack(ctx context.Context, id string, req apiv1.HandBackRequest) (*farm.Job, error)
}

func (o FleetOptions) check(slots int) error {
	if (o.Ephemeral || o.ResetCommand != "") && slots != 1 {
		return fmt.Errorf("agent: ephemeral and reset builders run one job at a time: slots must be 1, not %d", slots)
	}
	if o.Ephemeral && o.ResetCommand != "" {
		return errors.New("agent: an ephemeral builder is replaced after its job; it needs no reset command")
	}
	return nil
}

// claimed is called when a job was claimed: an ephemeral builder takes no other.
func (a *Agent) claimed() {
	if a.cfg.Fleet.Ephemeral {
		a.log.Info("ephemeral builder: this is its one job; draining")
		a.Drain()
	}
}

// afterJob runs between a job and the next claim (its slot still held):
// the reset command, then a clean registration.
func (a *Agent) afterJob() {
	cmd := a.cfg.Fleet.ResetCommand
	if cmd == "" || a.hardCtx.Err() != nil || a.isDraining() {
		return
	}
	timeout := a.cfg.Fleet.ResetTimeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(a.hardCtx, timeout)
	defer cancel()
	started := time.Now()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		a.log.Error("reset command failed: draining (the machine may not be clean)", "err", err, "command", cmd)
		a.Drain()
		return
	}
	a.log.Info("reset done; registering clean", "seconds", time.Since(started).Seconds())
	rctx, rcancel := context.WithTimeout(a.hardCtx, time.Minute)
	defer rcancel()
	if err := a.register(rctx); err != nil {
		a.log.Warn("registering after the reset failed; the next heartbeat retries", "err", err)
	}
}

// watchInterruptions polls for a notice and, on one, hands every job back
// and drains.
func (a *Agent) watchInterruptions(ctx context.Context) {
	src := a.cfg.Fleet.Interruptions
	if src == nil {
		return
	}
	every := a.cfg.Fleet.InterruptionPoll
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		notice, err := src.Notice(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Debug("interruption notice not readable", "err", err)
		}
		if notice != "" {
			a.interrupted(notice)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// interrupted gives every running job back to the farm at once (requeued
// now, not after its lease), stops it without completing, and drains.
func (a *Agent) interrupted(notice string) {
	reason := "interruption notice: " + notice
	a.log.Warn("the machine is going away: handing jobs back and draining", "notice", notice)
	a.Drain()
	a.mu.Lock()
	jobs := make([]*runningJob, 0, len(a.jobs))
	for _, j := range a.jobs {
		jobs = append(jobs, j)
	}
	a.mu.Unlock()
	hb, ok := a.api.(handBacker)
	for _, j := range jobs {
		// Fenced first: whatever the job does now, it is not completed by us.
		j.fence(reason)
		if !ok {
			continue // the farm requeues it when its lease expires
		}
		ctx, cancel := context.WithTimeout(a.hardCtx, 20*time.Second)
		_, err := hb.HandBack(ctx, j.id, apiv1.HandBackRequest{ClaimToken: j.token, Reason: reason})
		cancel()
		if err != nil {
			j.logger.Warn("hand-back failed; the farm requeues the job when its lease expires", "err", err)
			continue
		}
		j.logger.Info("job handed back to the farm")
	}
}
