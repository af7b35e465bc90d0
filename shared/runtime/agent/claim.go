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
// The answer tells hints whether the pool is worth another claim.
func (a *Agent) claimWithSlot(pool string) (claimed bool, err error) {
	ctx, cancel := context.WithTimeout(a.hardCtx, time.Minute)
	defer cancel()
	seen := a.registrations()
	held := a.jobsHeld()
	ticket := a.hints.claiming(pool)
	resp, err := a.api.Claim(ctx, a.cfg.Name, apiv1.ClaimRequest{Pool: pool, JobsHeld: &held})
	if err == nil {
		a.hints.answered(pool, ticket, moreQueued(resp))
	}
	if err != nil || resp == nil || resp.Job == nil {
		a.releaseSlot()
		if farm.IsCode(err, farm.ENotFound) {
			// The farm forgot us (its table was reset, or we were removed).
			a.reregister(seen)
		}
		return false, err
	}
	a.startJob(pool, resp)
	if moreQueued(resp) {
		// Claim again while slots are free (a no-op from the sweep, which
		// goes on by itself, and when this job took the last slot).
		a.requestSweep()
	}
	return true, nil
}

// moreQueued reads a claim answer's hint: nothing more after a 204; a farm
// that does not say (older than the hint) is taken to have more, so the
// builder claims until a 204 as it always did.
func moreQueued(resp *apiv1.ClaimResponse) bool {
	if resp == nil || resp.Job == nil {
		return false
	}
	return resp.MoreQueued == nil || *resp.MoreQueued
}

// jobsHeld is how many jobs the agent holds besides the claim under way
// (its slot is taken already): the claim says so, and the farm trusts it
// for the builder's slots.
func (a *Agent) jobsHeld() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return max(a.cfg.Spec.Slots-a.free-1, 0)
}

// sweepLoop claims from the pools worth a claim (claimHints) whenever
// asked: at start and after each registration (every pool), when a slot
// frees (the pools whose last claim said more was queued), on an idle-claim
// tick and for a doorbell that found no free slot (its pool). This drains
// a backlog without a doorbell per job, and costs no claim after a job
// when nothing else was queued.
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

// sweep claims round-robin over the pools worth a claim (from pools[start])
// until none is or no slot is free. Each answer updates what is worth a
// claim, so it ends: a job takes a slot, a 204 or more_queued false clears
// the pool (or leaves it wanted when asked again meanwhile, which is one
// more claim), an error returns.
func (a *Agent) sweep(ctx context.Context, start int) error {
	pools := a.cfg.Spec.Pools
	for {
		claimed := false
		for i := range pools {
			pool := pools[(start+i)%len(pools)]
			if !a.hints.sweepable(pool, a.queueURL(pool) != "") {
				continue
			}
			if ctx.Err() != nil || !a.acquireSlot() {
				return nil
			}
			if _, err := a.claimWithSlot(pool); err != nil {
				return err
			}
			claimed = true
		}
		if !claimed {
			return nil
		}
	}
}

// temporary reports whether a failed call may succeed later: network errors,
// 429 and 5xx answers.
func temporary(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	return client.IsTemporary(err) || client.StatusOf(err) == http.StatusRequestTimeout
}
