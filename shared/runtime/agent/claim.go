package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// claimWithSlot claims the best queued job of pool with a slot the caller
// acquired. With a job, the slot goes to the job's goroutine, which releases
// it when the job is completed; otherwise it is released here.
func (a *Agent) claimWithSlot(pool string) (claimed bool, err error) {
	ctx, cancel := context.WithTimeout(a.hardCtx, time.Minute)
	defer cancel()
	seen := a.registrations()
	held := a.jobsHeld()
	resp, err := a.api.Claim(ctx, a.cfg.Name, apiv1.ClaimRequest{Pool: pool, JobsHeld: &held})
	if err != nil || resp == nil || resp.Job == nil {
		a.releaseSlot()
		if farm.IsCode(err, farm.ENotFound) {
			// The farm forgot us (its table was reset, or we were removed).
			a.reregister(seen)
		}
		return false, err
	}
	a.startJob(pool, resp)
	return true, nil
}

// jobsHeld is how many jobs the agent holds besides the claim under way
// (its slot is taken already): the claim says so, and the farm trusts it
// for the builder's slots.
func (a *Agent) jobsHeld() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return max(a.cfg.Spec.Slots-a.free-1, 0)
}

// sweepLoop claims until every pool is empty whenever asked: at start, after
// each job, after a registration and now and then while doorbells are silent.
// This drains a backlog without needing a doorbell per job.
func (a *Agent) sweepLoop(ctx context.Context) {
	bo := a.newBackoff()
	start := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.sweepCh:
		}
		for {
			err := a.sweep(ctx, start)
			start++
			if err == nil {
				bo.reset()
				break
			}
			wait := bo.next()
			a.log.Warn("claim failed; retrying", "err", err, "retry_in", wait.String())
			if !sleep(ctx, wait) {
				return
			}
		}
	}
}

// sweep claims round-robin over the pools (from pools[start]) until each has
// answered 204 or no slot is free.
func (a *Agent) sweep(ctx context.Context, start int) error {
	pools := a.cfg.Spec.Pools
	empty := make([]bool, len(pools))
	left := len(pools)
	for left > 0 {
		for i := range pools {
			k := (start + i) % len(pools)
			if empty[k] {
				continue
			}
			if ctx.Err() != nil || !a.acquireSlot() {
				return nil
			}
			got, err := a.claimWithSlot(pools[k])
			if err != nil {
				return err
			}
			if !got {
				empty[k] = true
				left--
			}
		}
	}
	return nil
}

// temporary reports whether a failed call may succeed later: network errors,
// 429 and 5xx answers.
func temporary(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	return client.IsTemporary(err) || client.StatusOf(err) == http.StatusRequestTimeout
}
