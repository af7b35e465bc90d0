package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
)

// pollLoop waits for one pool's doorbells while a slot is free, and answers
// each with a claim for that pool. While the doorbells stay silent it now
// and then claims anyway, since doorbells are hints that can be lost.
func (a *Agent) pollLoop(ctx context.Context, pool string) {
	log := a.log.With("pool", pool)
	bo := a.newBackoff()
	nextIdleClaim := time.Now().Add(spread(a.cfg.IdleClaimInterval))
	for {
		// Never receive a doorbell that no slot could answer.
		if a.waitClaimable(ctx) != nil {
			return
		}
		if time.Now().After(nextIdleClaim) {
			nextIdleClaim = time.Now().Add(spread(a.cfg.IdleClaimInterval))
			a.claimSoon(pool)
		}
		url := a.queueURL(pool)
		if url == "" {
			// No queue for this pool: only the idle claims serve it.
			if !sleep(ctx, time.Until(nextIdleClaim)) {
				return
			}
			continue
		}
		wait := a.cfg.PollWait
		first := a.hints.doorbellFirst(pool)
		if first {
			// More was queued: answer a waiting doorbell rather than claim
			// without one (which would leave it to find its job taken).
			wait = min(wait, doorbellFirstWait)
		}
		a.hints.polling(pool, !first)
		msgs, err := a.bells.Receive(ctx, url, wait, 1)
		a.hints.polling(pool, false)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := bo.next()
			log.Warn("doorbell receive failed", "err", err, "retry_in", wait.String())
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		if len(msgs) > 0 {
			// The doorbells are not silent: each claim they bring takes the
			// best queued job, one whose doorbell was lost included.
			nextIdleClaim = time.Now().Add(spread(a.cfg.IdleClaimInterval))
		} else if first {
			// More was queued, yet no doorbell waits (lost, or answered by
			// another builder whose claim took another job): claim without.
			a.claimSoon(pool)
		}
		for _, m := range msgs {
			if err := a.answerDoorbell(ctx, pool, m); err != nil {
				wait := bo.next()
				log.Warn("claim after a doorbell failed; the doorbell stays for SQS to deliver again", "err", err, "job_id", m.JobID, "retry_in", wait.String())
				if !sleep(ctx, wait) {
					return
				}
				continue
			}
			bo.reset()
		}
	}
}

// doorbellFirstWait is how long a poller waits for a doorbell of a pool
// whose last claim said more was queued before claiming without one: a
// short long poll (a zero-second one may miss a message SQS holds).
const doorbellFirstWait = time.Second

// answerDoorbell claims from pool for a doorbell and deletes the doorbell
// when the farm answered (a job or none: either way it did its job). On an
// error the doorbell stays, and SQS delivers it again.
func (a *Agent) answerDoorbell(ctx context.Context, pool string, m sqsdoorbell.Message) error {
	log := a.log.With("pool", pool, "doorbell_job_id", m.JobID, "receives", m.Receives)
	if m.Malformed {
		log.Warn("malformed doorbell; claiming anyway")
	}
	if !a.acquireSlot() {
		dctx, cancel := context.WithTimeout(a.hardCtx, 30*time.Second)
		defer cancel()
		if a.takesNoWork() {
			// This builder takes no more work: hand the doorbell back at once
			// for a builder that does.
			if err := a.bells.Release(dctx, m); err != nil {
				log.Warn("doorbell release failed; it comes back after its visibility timeout", "err", err)
			}
			log.Debug("doorbell released: draining")
			return nil
		}
		// A sweep took the slot meanwhile: this builder claims from the
		// pool with its next free slot, which serves the doorbell's job;
		// idle builders get doorbells of their own. Left to its visibility
		// timeout, the doorbell would come back 30 s late and count towards
		// the dead-letter queue on a healthy farm. A claim under way may
		// have read the queue just before this doorbell's job arrived: its
		// answer does not clear what is asked here (claimHints).
		a.claimSoon(pool)
		if err := a.bells.Delete(dctx, m); err != nil {
			log.Warn("doorbell delete failed", "err", err)
		}
		log.Debug("doorbell dropped: no free slot")
		return nil
	}
	got, err := a.claimWithSlot(pool)
	if err != nil {
		return err
	}
	log.Debug("doorbell answered", "claimed", got)
	dctx, cancel := context.WithTimeout(a.hardCtx, 30*time.Second)
	defer cancel()
	if err := a.bells.Delete(dctx, m); err != nil {
		// Harmless: it comes back, and the claim it causes finds nothing or a real job.
		log.Warn("doorbell delete failed", "err", err)
	}
	return nil
}

// spread draws an interval from [d/2, 3d/2): on average d, never in step
// with other builders.
func spread(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d)
}
