package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunOwnWriteContract checks that a job write sent again after its answer
// was lost (the SDK retries a request whose response never came) finds
// its own first attempt and succeeds, for a create, a claim and a
// completion; and that a different write from the same state is still a
// conflict. It also checks that every transition's event is stored with
// the state it records.
func RunOwnWriteContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	lease := 30 * time.Second

	// commitTwice commits w, then the same w again as a retry would.
	commitTwice := func(t *testing.T, s store.Store, w store.JobWrite) {
		t.Helper()
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{w}}))
		retry := store.JobWrite{Prev: w.Prev.Clone(), Next: w.Next.Clone(), Event: w.Event}
		if err := s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{retry}}); err != nil {
			t.Fatalf("the same write sent again is not recognised as its own: %v", err)
		}
	}
	eventsOf := func(t *testing.T, s store.Store, id string) []farm.JobEvent {
		t.Helper()
		evs, err := s.JobEvents(ctx, id)
		must(t, err)
		return evs
	}

	t.Run("RetriedCreateFindsItsOwnJob", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := rawJob(newIDs(1)[0], farm.StatusQueued, "default", 1)
		ev := &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(1), At: t0, To: farm.StatusQueued, Actor: "alice", Detail: "submitted by alice"}
		commitTwice(t, s, store.JobWrite{Next: j, Event: ev})
		if evs := eventsOf(t, s, j.ID); len(evs) != 1 {
			t.Fatalf("%d events after a retried create, want 1", len(evs))
		}
		// Another create of the id (another request) is still a conflict.
		other := rawJob(j.ID, farm.StatusQueued, "default", 1)
		oev := &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(1), At: t0.Add(time.Millisecond), To: farm.StatusQueued, Actor: "bob", Detail: "submitted by bob"}
		mustCode(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: other, Event: oev}}}), farm.EConflict)
	})

	t.Run("RetriedClaimFindsItsOwnClaimToken", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := rawJob(newIDs(1)[0], farm.StatusQueued, "default", 1)
		create(t, s, j)
		queued, err := s.GetJob(ctx, j.ID)
		must(t, err)
		claimed, ev, err := queued.Claim("b1", "token-1", t0.Add(time.Second), lease)
		must(t, err)
		commitTwice(t, s, store.JobWrite{Prev: queued, Next: claimed, Event: ev})
		got, err := s.GetJob(ctx, j.ID)
		must(t, err)
		if got.ClaimToken != "token-1" || got.Status != farm.StatusRunning {
			t.Fatalf("after a retried claim: %s with token %q", got.Status, got.ClaimToken)
		}
		// The same builder claiming from the same state in the same
		// millisecond under another token lost the race.
		rival, rev, err := queued.Claim("b1", "token-2", t0.Add(time.Second), lease)
		must(t, err)
		mustCode(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: queued, Next: rival, Event: rev}}}), farm.EConflict)
		// A heartbeat lands before the retry: the claim is still its own.
		renewed, err := got.Renew("token-1", t0.Add(2*time.Second), lease, "", "")
		must(t, err)
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: got, Next: renewed}}}))
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: queued, Next: claimed.Clone(), Event: ev}}}))
		if evs := eventsOf(t, s, j.ID); len(evs) != 2 || evs[1].To != farm.StatusRunning {
			t.Fatalf("events after a retried claim: %+v", evs)
		}
	})

	t.Run("RetriedCompletionFindsItsOwnResult", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := rawJob(newIDs(1)[0], farm.StatusQueued, "default", 1)
		create(t, s, j)
		queued, _ := s.GetJob(ctx, j.ID)
		claimed, cev, err := queued.Claim("b1", "token-1", t0.Add(time.Second), lease)
		must(t, err)
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: queued, Next: claimed, Event: cev}}}))
		running, _ := s.GetJob(ctx, j.ID)
		done, dev, err := running.Complete("b1", farm.Completion{ClaimToken: "token-1", Result: farm.StatusSucceeded}, t0.Add(3*time.Second))
		must(t, err)
		commitTwice(t, s, store.JobWrite{Prev: running, Next: done, Event: dev})
		// A different result for the same claim is not this write.
		failed, fev, err := running.Complete("b1", farm.Completion{ClaimToken: "token-1", Result: farm.StatusFailed, Error: "exit 1"}, t0.Add(3*time.Second))
		must(t, err)
		mustCode(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: running, Next: failed, Event: fev}}}), farm.EConflict)
		got, _ := s.GetJob(ctx, j.ID)
		evs := eventsOf(t, s, j.ID)
		if got.Status != farm.StatusSucceeded || len(evs) != 3 || evs[2].To != farm.StatusSucceeded {
			t.Fatalf("after a retried completion: %s, events %+v", got.Status, evs)
		}
	})

	t.Run("EveryTransitionIsStoredWithItsEvent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		j := rawJob(newIDs(1)[0], farm.StatusQueued, "default", 1)
		create(t, s, j)
		steps := []func(*farm.Job, time.Time) (*farm.Job, *farm.JobEvent, error){
			func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
				return j.Claim("b1", "t1", now, lease)
			},
			func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) { return j.Cancel("admin", now) },
			func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
				return j.Complete("b1", farm.Completion{ClaimToken: "t1", Result: farm.StatusCancelled}, now)
			},
			func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) { return j.Retry("admin", now) },
			func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
				return j.PinScore(7, "admin", now)
			},
		}
		for i, step := range steps {
			cur, err := s.GetJob(ctx, j.ID)
			must(t, err)
			next, ev, err := step(cur, t0.Add(time.Duration(i+1)*time.Second))
			must(t, err)
			// The write carries its event inside the job it writes: no
			// separate event write exists to fail or be lost.
			if n := len(next.History); n == 0 || next.History[n-1].Seq != ev.Seq {
				t.Fatalf("step %d: the next job does not carry its event", i)
			}
			must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: cur, Next: next, Event: ev}}}))
			got, err := s.GetJob(ctx, j.ID)
			must(t, err)
			evs := eventsOf(t, s, j.ID)
			last := evs[len(evs)-1]
			if len(evs) != i+2 || last.Seq != farm.SeqFor(got.Version) || last.To != got.Status {
				t.Fatalf("step %d: job %s v%d, events %+v", i, got.Status, got.Version, evs)
			}
		}
	})
}
