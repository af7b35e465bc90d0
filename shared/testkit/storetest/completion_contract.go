package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunCompletionContract checks CompleteJob, a completion written as a
// patch of the job its builder presumes: applied, it leaves exactly the
// job a whole-image write of Job.Complete's result leaves (state, fields,
// history, expiry, off the reap index); sent again, it finds itself; on a
// job not as presumed it changes nothing and hands back the job as stored.
func RunCompletionContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	lease := 30 * time.Second
	policy := farm.Policy{JobRetention: 24 * time.Hour}
	finish := t0.Add(90 * time.Second)

	// running creates job id and claims it for b1 (token-1), with
	// artifacts of earlier runs.
	running := func(t *testing.T, s store.Store, id string, kept int) *farm.Job {
		t.Helper()
		j := rawJob(id, farm.StatusQueued, "default", 1)
		j.Run = 2
		for i := range kept {
			j.Artifacts = append(j.Artifacts, farm.Artifact{Name: fmt.Sprintf("old%d", i), Key: fmt.Sprintf("artifacts/x/1/old%d", i), Size: 1, Attempt: 1})
		}
		create(t, s, j)
		queued, err := s.GetJob(ctx, id)
		must(t, err)
		claimed, ev, err := queued.Claim("b1", "token-1", t0.Add(time.Second), lease)
		must(t, err)
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: queued, Next: claimed, Event: ev}}}))
		got, err := s.GetJob(ctx, id)
		must(t, err)
		return got
	}
	completion := farm.Completion{ClaimToken: "token-1", Result: farm.StatusFailed, Error: "exit status 2", ExitCode: new(2),
		LogInline: "the end\n", LogComplete: true,
		Artifacts: []farm.Artifact{{Name: "out.tar", Bucket: "b", Key: "artifacts/x/3/out.tar", Size: 7, SHA256: "ab", VersionID: "v1"}}}
	patchOf := func(t *testing.T, j *farm.Job, c farm.Completion) *farm.CompletionPatch {
		t.Helper()
		p, err := farm.CompleteAsPresumed(j.ID, "b1", farm.Presumed{ClaimToken: c.ClaimToken, Version: j.Version, Run: j.Run}, c, finish)
		must(t, err)
		p.ExpiresAt = policy.JobExpiry(&farm.Job{Status: p.Status, FinishedAt: &p.FinishedAt})
		return p
	}

	t.Run("PatchLeavesWhatCompleteLeaves", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(2)
		a, b := running(t, s, ids[0], 2), running(t, s, ids[1], 2)
		got, err := s.CompleteJob(ctx, patchOf(t, a, completion))
		must(t, err)
		// The twin, completed through a whole-image write.
		w := store.JobWriter{Store: s, Policy: policy, Clock: func() time.Time { return finish }}
		next, ev, err := b.Complete("b1", completion, finish)
		must(t, err)
		must(t, w.Write(ctx, b, next, ev))
		stored, err := s.GetJob(ctx, a.ID)
		must(t, err)
		twin, err := s.GetJob(ctx, b.ID)
		must(t, err)
		if !reflect.DeepEqual(asTwin(stored, b.ID), twin) {
			t.Fatalf("patched job differs from the completed twin:\n got %+v\nwant %+v", stored, twin)
		}
		if !reflect.DeepEqual(got, stored) {
			t.Fatalf("CompleteJob answered %+v, stored %+v", got, stored)
		}
		if stored.Status != farm.StatusFailed || len(stored.Artifacts) != 3 || stored.Artifacts[2].Attempt != 3 || stored.ExpiresAt == nil ||
			stored.DurationSeconds == nil || *stored.DurationSeconds != 89 || stored.ReapAt != nil || stored.ClaimToken != "token-1" {
			t.Fatalf("stored %+v", stored)
		}
		evs, err := s.JobEvents(ctx, a.ID)
		must(t, err)
		if n := len(evs); n != 3 || evs[n-1].To != farm.StatusFailed || evs[n-1].Detail != "exit status 2" {
			t.Fatalf("events %+v", evs)
		}
		active, err := s.ActiveJobs(ctx, "b1", 0)
		must(t, err)
		for _, aj := range active {
			if aj.ID == a.ID {
				t.Fatal("the completed job is still on the reap index")
			}
		}
	})

	t.Run("PatchSentAgainFindsItself", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := running(t, s, newIDs(1)[0], 0)
		p := patchOf(t, j, completion)
		first, err := s.CompleteJob(ctx, p)
		must(t, err)
		again, err := s.CompleteJob(ctx, patchOf(t, j, completion))
		if err != nil || again.Version != first.Version || len(again.History) != len(first.History) || len(again.Artifacts) != 1 {
			t.Fatalf("the patch sent again: %+v %v", again, err)
		}
		// Another result on the same presumption is not its own write.
		other := completion
		other.Result, other.Error = farm.StatusSucceeded, ""
		_, err = s.CompleteJob(ctx, patchOf(t, j, other))
		mustCode(t, err, farm.EConflict)
		if cur := store.CurrentJob(err); cur == nil || cur.Status != farm.StatusFailed {
			t.Fatalf("the lost patch carries %+v", cur)
		}
	})

	t.Run("PatchOfAJobNotAsPresumedChangesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(4)
		for i, change := range []func(*farm.Job) *farm.CompletionPatch{
			// A heartbeat moved the version on.
			func(j *farm.Job) *farm.CompletionPatch {
				renewed, err := j.Renew("token-1", t0.Add(5*time.Second), lease, "", "")
				must(t, err)
				must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: renewed}}}))
				return patchOf(t, j, completion)
			},
			// A cancel: the job is cancelling.
			func(j *farm.Job) *farm.CompletionPatch {
				next, ev, err := j.Cancel("admin", t0.Add(5*time.Second))
				must(t, err)
				must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: next, Event: ev}}}))
				return patchOf(t, j, completion)
			},
			// A foreign claim token.
			func(j *farm.Job) *farm.CompletionPatch {
				c := completion
				c.ClaimToken = "token-2"
				return patchOf(t, j, c)
			},
			// Another run.
			func(j *farm.Job) *farm.CompletionPatch {
				p := patchOf(t, j, completion)
				p.Presumed.Run++
				return p
			},
		} {
			j := running(t, s, ids[i], 0)
			p := change(j)
			before, err := s.GetJob(ctx, j.ID)
			must(t, err)
			_, err = s.CompleteJob(ctx, p)
			mustCode(t, err, farm.EConflict)
			if cur := store.CurrentJob(err); !reflect.DeepEqual(cur, before) {
				t.Fatalf("case %d: the lost patch carries %+v, stored %+v", i, cur, before)
			}
			if after, _ := s.GetJob(ctx, j.ID); !reflect.DeepEqual(after, before) {
				t.Fatalf("case %d: a patch that did not apply changed the job", i)
			}
		}
	})

	t.Run("PatchThatWouldOverflowTheKeptArtifactsDoesNotApply", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := running(t, s, newIDs(1)[0], farm.MaxKeptArtifacts)
		_, err := s.CompleteJob(ctx, patchOf(t, j, completion))
		mustCode(t, err, farm.EConflict)
		if cur := store.CurrentJob(err); cur == nil || cur.Status != farm.StatusRunning || len(cur.Artifacts) != farm.MaxKeptArtifacts {
			t.Fatalf("the lost patch carries %+v", cur)
		}
	})

	t.Run("PatchOfNoJobIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := rawJob(newIDs(1)[0], farm.StatusRunning, "default", 1)
		j.Run = 1
		_, err := s.CompleteJob(ctx, patchOf(t, j, completion))
		mustCode(t, err, farm.ENotFound)
	})
}

// asTwin is j as its twin (id twin) would be: the same job under the
// other id.
func asTwin(j *farm.Job, twin string) *farm.Job {
	c := j.Clone()
	c.ID = twin
	for i := range c.History {
		c.History[i].JobID = twin
	}
	return c
}
