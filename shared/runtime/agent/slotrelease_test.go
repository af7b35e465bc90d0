package agent_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// startHoldingCompletions starts an agent claiming on doorbells only,
// against a fake farm that holds every completion's answer until release
// (called by the test's cleanup at the latest: a held completion would
// keep the agent from stopping).
func startHoldingCompletions(t *testing.T) (*fakeFarm, *fakeBells, *harness, func()) {
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	hold := make(chan struct{})
	f.locked(func() { f.completeHold = hold })
	h := start(t, f, b, cfg)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
	return f, b, h, release
}

// A slot takes its next job as soon as its job has run: the next claim
// does not wait for the completion's answer.
func TestASlotClaimsItsNextJobWhileTheCompletionIsOnItsWay(t *testing.T) {
	t.Parallel()
	f, b, h, release := startHoldingCompletions(t)
	first := f.script("default", `true`, nil)
	second := f.script("default", `true`, nil)
	b.ring(f, "default", first.ID)
	f.waitFor("the second job claimed while the first completion is held", func() bool {
		return slices.Contains(f.claimLog, second.ID) && len(f.completions) == 0
	})
	release()
	f.awaitCompletion(first.ID)
	f.awaitCompletion(second.ID)
	h.waitIdle()
}

// After a job that leaves the builder dirty, the slot waits for the
// completion's answer (the farm marks the builder there) before it claims.
func TestADirtyingJobKeepsItsSlotUntilItsCompletionIsAnswered(t *testing.T) {
	t.Parallel()
	f, b, h, release := startHoldingCompletions(t)
	image := f.push("default", farm.TypeLiveImageBuild, map[string]any{"arch": "amd64"}, 60)
	next := f.script("default", `true`, nil)
	b.ring(f, "default", image.ID)
	f.waitFor("the image build's completion", func() bool { return f.completing == 1 })
	time.Sleep(settle)
	if got := f.claimLogNow(); slices.Contains(got, next.ID) {
		t.Fatalf("claimed %s before the dirtying job's completion was answered (claims %v)", next.ID, got)
	}
	release()
	f.awaitCompletion(image.ID)
	f.awaitCompletion(next.ID)
	h.waitIdle()
}

// A completion presumes the version a heartbeat in flight gives the job
// (the renewal writes the job): it waits for that answer rather than send
// a version the renewal has already moved past (a second write at the farm).
func TestACompletionWaitsForTheHeartbeatInFlight(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	h := start(t, f, b, cfg)
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
	g := newGate(t)
	job := f.script("default", g.script(), g.env())
	b.ring(f, "default", job.ID)
	f.waitFor("the job claimed", func() bool { return slices.Contains(f.claimLog, job.ID) })
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	f.locked(func() { f.beatHold = hold })
	before := len(f.heartbeats)
	f.waitFor("a heartbeat carrying the job, held", func() bool {
		for _, hb := range f.heartbeats[before:] {
			for _, hj := range hb.Jobs {
				if hj.ID == job.ID {
					return true
				}
			}
		}
		return false
	})
	var renewedTo int64
	f.locked(func() { renewedTo = f.jobs[job.ID].version })
	g.open(t)
	time.Sleep(settle)
	f.locked(func() {
		if len(f.completions) > 0 {
			t.Errorf("completed (presuming version %d) while a heartbeat renewing the job to %d was in flight", f.completions[0].Req.Version, renewedTo)
		}
		f.beatHold = nil
	})
	release()
	if c := f.awaitCompletion(job.ID); c.Req.Version < renewedTo {
		t.Fatalf("the completion presumed version %d, the held renewal gave %d", c.Req.Version, renewedTo)
	}
	h.waitIdle()
}
