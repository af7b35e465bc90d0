package agent_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// A slot takes its next job as soon as its job has run: the next claim
// does not wait for the completion's answer.
func TestASlotClaimsItsNextJobWhileTheCompletionIsOnItsWay(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	hold := make(chan struct{})
	f.locked(func() { f.completeHold = hold })
	h := start(t, f, b, cfg)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the agent stops: a held completion would keep it
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
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
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	hold := make(chan struct{})
	f.locked(func() { f.completeHold = hold })
	h := start(t, f, b, cfg)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the agent stops: a held completion would keep it
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
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
