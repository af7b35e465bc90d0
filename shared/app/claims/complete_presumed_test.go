package claims_test

import (
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// presumed is a report of c's job as its claim answer showed it.
func presumed(c *claims.Claim, result string) claims.Report {
	return claims.Report{ClaimToken: c.Job.ClaimToken, Result: result, Version: c.Job.Version, Run: c.Job.Run}
}

// loggedResult is a presumed success of c's job with a small log and one
// artifact.
func loggedResult(c *claims.Claim) claims.Report {
	r := presumed(c, "succeeded")
	r.Log, r.LogComplete = "all done\n", true
	r.Artifacts = []claims.ArtifactRef{{Name: "out.tar", Size: 10, SHA256: strings.Repeat("b", 64)}}
	return r
}

// checkLoggedResult checks c's job as stored, and done as answered, after
// loggedResult(c) was recorded: what a completion of either path leaves.
func checkLoggedResult(t *testing.T, f *fixture, c *claims.Claim, done *farm.Job) {
	t.Helper()
	stored := f.job(t, c.Job.ID)
	wantKey := blobs.ArtifactKey(c.Job.ID, c.Job.Run, "out.tar")
	if stored.Status != farm.StatusSucceeded || stored.LogInline != "all done\n" || !stored.LogComplete || len(stored.Artifacts) != 1 ||
		stored.Artifacts[0].Key != wantKey || stored.Artifacts[0].Attempt != c.Job.Run || stored.ExpiresAt == nil ||
		stored.ReapAt != nil || stored.LeaseExpiresAt != nil || stored.DurationSeconds == nil || stored.Version != c.Job.Version+1 {
		t.Fatalf("stored %+v", stored)
	}
	if n := len(stored.History); stored.History[n-1].To != farm.StatusSucceeded || stored.History[n-1].Actor != "builder:b1" {
		t.Fatalf("history %+v", stored.History)
	}
	if done.Version != stored.Version || done.Status != farm.StatusSucceeded {
		t.Fatalf("answered %+v", done)
	}
}

// A completion that carries the job's version and run as its claim answer
// gave them, served by another process than the claim's, is one store call — the conditional patch — and no read; the
// job it leaves is the one the read-then-write path leaves (log, artifacts
// under the run's keys, expiry, history). Sent again (its answer lost), it
// is the same success from that one call, nothing written.
func TestAPresumedCompletionIsOneCall(t *testing.T) {
	t.Parallel()
	f, st, bl := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	st.reset()
	bl.calls.Store(0)
	r := loggedResult(c)
	away := f.elsewhere()
	done, err := away.Complete(ctx, builder("b1"), j.ID, r)
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 0 || p != 1 || bl.calls.Load() != 0 {
		t.Fatalf("a presumed completion made %d reads, %d writes, %d patches, %d blob calls; want 0, 0, 1, 0", g, w, p, bl.calls.Load())
	}
	checkLoggedResult(t, f, c, done)
	st.reset()
	again, err := away.Complete(ctx, builder("b1"), j.ID, r)
	if err != nil || again.Version != done.Version || again.Status != farm.StatusSucceeded {
		t.Fatalf("the completion sent again: %+v %v", again, err)
	}
	if g, w, p := st.calls(); g != 0 || w != 0 || p != 1 {
		t.Fatalf("the completion sent again made %d reads, %d writes, %d patches; want 0, 0, 1", g, w, p)
	}
}

// A heartbeat between the claim and the completion moves the job's
// version: a completion that presumes the claim's version finds the job
// moved on and completes from the job its failed patch found (one more
// write, still no read); one that presumes the heartbeat answer's version
// is one call again.
func TestAHeartbeatMovesWhatACompletionPresumes(t *testing.T) {
	t.Parallel()
	f, st, _ := countingFixture(t)
	f.register(t, "b1", 2)
	f.script(t, 0)
	f.script(t, 0)
	cs, cf := f.claim(t, "b1"), f.claim(t, "b1")
	f.clock.Advance(time.Second)
	res, err := f.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: cs.Job.ID, ClaimToken: cs.Job.ClaimToken}, {ID: cf.Job.ID, ClaimToken: cf.Job.ClaimToken}}, false)
	must(t, err)
	versions := map[string]int64{}
	for _, r := range res.Renewed {
		versions[r.JobID] = r.Version
	}
	if versions[cs.Job.ID] != cs.Job.Version+1 || versions[cf.Job.ID] != cf.Job.Version+1 {
		t.Fatalf("the heartbeat answered renewed %+v; the claims were at versions %d and %d", res.Renewed, cs.Job.Version, cf.Job.Version)
	}
	st.reset()
	away := f.elsewhere()
	done, err := away.Complete(ctx, builder("b1"), cs.Job.ID, presumed(cs, "failed"))
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 1 || p != 1 || done.Status != farm.StatusFailed {
		t.Fatalf("a stale presumption: %s after %d reads, %d writes, %d patches; want failed after 0, 1, 1", done.Status, g, w, p)
	}
	st.reset()
	r := presumed(cf, "succeeded")
	r.Version = versions[cf.Job.ID]
	done, err = away.Complete(ctx, builder("b1"), cf.Job.ID, r)
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 0 || p != 1 || done.Status != farm.StatusSucceeded {
		t.Fatalf("the heartbeat's presumption: %s after %d reads, %d writes, %d patches; want succeeded after 0, 0, 1", done.Status, g, w, p)
	}
}

// A cancel that comes between the claim and a presumed completion: the
// patch does not apply, the job it found (cancelling) is decided as the
// domain says — the builder finished it, so it ends with its result —
// with one more write and no read.
func TestAPresumedCompletionThatLosesToACancel(t *testing.T) {
	t.Parallel()
	f, st, _ := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	st.reset()
	st.beforeCommit = func() { must(t, f.mem.Commit(ctx, cancelling(t, f, j.ID))) }
	done, err := f.elsewhere().Complete(ctx, builder("b1"), j.ID, presumed(c, "succeeded"))
	must(t, err)
	if g, w, p := st.calls(); g != 0 || w != 1 || p != 1 || done.Status != farm.StatusSucceeded {
		t.Fatalf("ended %s after %d reads, %d writes, %d patches; want succeeded after 0, 1, 1", done.Status, g, w, p)
	}
	stored := f.job(t, j.ID)
	if n := len(stored.History); n < 2 || stored.History[n-2].To != farm.StatusCancelling || stored.History[n-1].To != farm.StatusSucceeded {
		t.Fatalf("history %+v", stored.History)
	}
}

// What a presumed completion cannot do it does not do: a foreign claim
// token, another builder, a job given to another builder since — each is
// refused as the read-then-write path refuses it, and the job is
// unchanged. A presumption of a run the job is not in changes nothing.
func TestAPresumedCompletionIsFencedLikeAnyOther(t *testing.T) {
	t.Parallel()
	f, _, _ := countingFixture(t)
	f.register(t, "b1", 1)
	f.register(t, "b2", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	before := f.job(t, j.ID)
	foreign := presumed(c, "succeeded")
	foreign.ClaimToken = "not-the-token"
	if _, err := f.Complete(ctx, builder("b1"), j.ID, foreign); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("a foreign token: %v", err)
	}
	if _, err := f.Complete(ctx, builder("b2"), j.ID, presumed(c, "succeeded")); !farm.IsCode(err, farm.EForbidden) {
		t.Fatalf("another builder with the token: %v", err)
	}
	wrongRun := presumed(c, "succeeded")
	wrongRun.Run++
	if _, err := f.Complete(ctx, builder("b1"), j.ID, wrongRun); err != nil {
		t.Fatalf("a stale run with the live token is decided from the job: %v", err)
	}
	if after := f.job(t, j.ID); after.Run != before.Run || after.Status != farm.StatusSucceeded || after.Artifacts != nil {
		t.Fatalf("after: %+v", after)
	}
	if _, err := f.Complete(ctx, builder("b1"), j.ID, claims.Report{ClaimToken: c.Job.ClaimToken, Result: "succeeded", Version: -1}); fieldOf(err) != "version" {
		t.Fatalf("a negative version: %v", err)
	}
}
