package claims_test

import (
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A presumed completion served by the process that wrote the job's claim
// is decided from the job as written there — no read, no patch — and is
// one conditional write of the whole finished job, which leaves what the
// patch leaves. Sent again (its answer lost), it is recognised as its own.
func TestACompletionOfAJobThisProcessWroteIsOneWrite(t *testing.T) {
	t.Parallel()
	f, st, bl := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	st.reset()
	bl.calls.Store(0)
	r := loggedResult(c)
	done, err := f.Complete(ctx, builder("b1"), j.ID, r)
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 1 || p != 0 || bl.calls.Load() != 0 {
		t.Fatalf("made %d reads, %d writes, %d patches, %d blob calls; want 0, 1, 0, 0", g, w, p, bl.calls.Load())
	}
	checkLoggedResult(t, f, c, done)
	st.reset()
	again, err := f.Complete(ctx, builder("b1"), j.ID, r)
	if err != nil || again.Version != done.Version || again.Status != farm.StatusSucceeded {
		t.Fatalf("the completion sent again: %+v %v", again, err)
	}
	if g, w, _ := st.calls(); g != 0 || w != 0 {
		t.Fatalf("the completion sent again made %d reads and %d writes; want none", g, w)
	}
}

// What this process wrote last is what a completion may be decided from:
// after its own heartbeat, the renewal; after a cancel it did not write,
// the failed write's find (one more write, still no read); a report that
// presumes something else (a foreign token) is refused and leaves the
// job as written for the builder's true report.
func TestAJobThisProcessWroteFollowsItsWrites(t *testing.T) {
	t.Parallel()
	f, st, _ := countingFixture(t)
	f.register(t, "b1", 2)
	f.script(t, 0)
	f.script(t, 0)
	beat, cancelled := f.claim(t, "b1"), f.claim(t, "b1")
	f.clock.Advance(time.Second)
	res, err := f.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: beat.Job.ID, ClaimToken: beat.Job.ClaimToken}}, false)
	must(t, err)
	if len(res.Renewed) != 1 || res.Renewed[0].Version != beat.Job.Version+1 {
		t.Fatalf("renewed %+v", res.Renewed)
	}
	foreign := presumed(beat, "succeeded")
	foreign.ClaimToken, foreign.Version = "not-the-token", res.Renewed[0].Version
	if _, err := f.Complete(ctx, builder("b1"), beat.Job.ID, foreign); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("a foreign token: %v", err)
	}
	st.reset()
	r := presumed(beat, "succeeded")
	r.Version = res.Renewed[0].Version
	done, err := f.Complete(ctx, builder("b1"), beat.Job.ID, r)
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 1 || p != 0 || done.Status != farm.StatusSucceeded || done.Version != r.Version+1 {
		t.Fatalf("after its heartbeat: %s v%d after %d reads, %d writes, %d patches; want succeeded v%d after 0, 1, 0", done.Status, done.Version, g, w, p, r.Version+1)
	}
	must(t, f.mem.Commit(ctx, cancelling(t, f, cancelled.Job.ID)))
	st.reset()
	done, err = f.Complete(ctx, builder("b1"), cancelled.Job.ID, presumed(cancelled, "failed"))
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 2 || p != 0 || done.Status != farm.StatusFailed {
		t.Fatalf("after a cancel: %s after %d reads, %d writes, %d patches; want failed after 0, 2, 0", done.Status, g, w, p)
	}
	stored := f.job(t, cancelled.Job.ID)
	if n := len(stored.History); n < 2 || stored.History[n-2].To != farm.StatusCancelling || stored.History[n-1].To != farm.StatusFailed {
		t.Fatalf("history %+v", stored.History)
	}
}
