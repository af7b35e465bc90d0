package crashpoint

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RecoveryBound is how long the farm's own recovery may take after a
// crash, by its documented bounds: a claim nobody runs is requeued when
// its lease expires (the reaper's sweep), held back by the first requeue
// backoff, and a queued job whose doorbell was lost is rung by the
// stale-queue sweep; plus a heartbeat interval for each sweep to come
// round.
func (f *Farm) RecoveryBound() time.Duration {
	p := f.Policy
	return p.Lease + p.RequeueBackoff + p.StaleQueueAge + 2*p.Heartbeat
}

// Recover runs the farm's recovery, every process alive: the stream's
// changes delivered to a fresh dispatcher, and then, every heartbeat
// interval over RecoveryBound, the agents' heartbeats, a reaper pass and
// the stream again.
func (f *Farm) Recover(ctx context.Context, cs *Clients) error {
	if err := f.drain(ctx); err != nil {
		return err
	}
	step := f.Policy.Heartbeat
	for elapsed := time.Duration(0); elapsed <= f.RecoveryBound(); elapsed += step {
		if err := f.heartbeats(ctx, cs); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if _, err := f.Start(Live()).Reaper.Reap(ctx); err != nil {
			return fmt.Errorf("reaper pass: %w", err)
		}
		if err := f.drain(ctx); err != nil {
			return err
		}
		f.Advance(step)
	}
	return nil
}

// drain delivers the stream to fresh dispatchers until every change is
// handled.
func (f *Farm) drain(ctx context.Context) error {
	for range 50 {
		if !f.Dispatch(ctx, Live()) {
			return nil
		}
	}
	return errors.New("the stream's changes keep failing in the dispatcher")
}

// Work has the agents run everything the farm dispatches until nothing is
// left to run, as a healthy fleet would after the recovery: each
// registered builder (or a fresh one when none is) claims while it has a
// free slot and reports success; jobs being cancelled are stopped through
// the heartbeats; the stream, the reaper and the clock go on meanwhile.
func (f *Farm) Work(ctx context.Context, cs *Clients) error {
	names, err := f.agents(ctx, cs)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = []string{"worker"}
		err := f.Serve(ctx, cs, Live(), func(ctx context.Context, c *Call) error {
			_, err := c.Services.Builders.Register(ctx, farm.Principal{Role: farm.RoleAdmin}, "worker", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: f.Pools, Slots: 2})
			return err
		})
		if err != nil {
			return err
		}
	}
	for range 30 {
		for _, name := range names {
			if err := f.runAll(ctx, cs, name); err != nil {
				return err
			}
		}
		if err := f.heartbeats(ctx, cs); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if _, err := f.Start(Live()).Reaper.Reap(ctx); err != nil {
			return fmt.Errorf("reaper pass: %w", err)
		}
		if err := f.drain(ctx); err != nil {
			return err
		}
		f.Advance(f.Policy.Heartbeat)
	}
	return nil
}

// runAll has builder name claim every job it can from its pools and
// report each succeeded.
func (f *Farm) runAll(ctx context.Context, cs *Clients, name string) error {
	held := make([]string, 0, len(cs.Held[name]))
	for id := range cs.Held[name] {
		held = append(held, id)
	}
	sort.Strings(held)
	for _, id := range held {
		if err := f.finish(ctx, cs, name, id, cs.Held[name][id]); err != nil {
			return err
		}
	}
	for _, pool := range f.Pools {
		for range 20 {
			var claimed *claims.Claim
			err := f.Serve(ctx, cs, Live(), func(ctx context.Context, c *Call) error {
				var err error
				claimed, err = c.Services.Claims.Claim(ctx, Builder(name), name, pool)
				c.Claimed(name, claimed)
				return err
			})
			if err != nil {
				return fmt.Errorf("claim by %s: %w", name, err)
			}
			if claimed == nil {
				break
			}
			if err := f.finish(ctx, cs, name, claimed.Job.ID, claimed.Job.ClaimToken); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish reports a job builder name ran as succeeded.
func (f *Farm) finish(ctx context.Context, cs *Clients, name, id, token string) error {
	err := f.Serve(ctx, cs, Live(), func(ctx context.Context, c *Call) error {
		_, err := c.Services.Claims.Complete(ctx, Builder(name), id, cs.Report(id, token, farm.StatusSucceeded))
		if farm.IsCode(err, farm.EConflict) {
			err = nil // the claim went stale (reaped, timed out): the agent drops the result
		}
		if err == nil {
			c.Done(name, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("completion of %s by %s: %w", id, name, err)
	}
	return nil
}
