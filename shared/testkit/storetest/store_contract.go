package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// rawJob builds a job record directly, for store-level tests.
func rawJob(id string, status farm.JobStatus, pool string, score int64) *farm.Job {
	return &farm.Job{
		ID: id, Type: farm.TypeScript, Status: status, Pool: pool, Score: score,
		Payload: json.RawMessage(`{"script":"true"}`), RequestedBy: "test", CreatedAt: t0,
		MaxAttempts: 3, TimeoutSeconds: 60, Version: 1,
	}
}

func create(t *testing.T, s store.Store, jobs ...*farm.Job) {
	t.Helper()
	for _, j := range jobs {
		ev := &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(j.Version), At: t0, To: j.Status, Actor: "test"}
		must(t, s.Commit(context.Background(), store.Tx{Jobs: []store.JobWrite{{Next: j, Event: ev}}}))
	}
}

func jobIDs(jobs []*farm.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// newIDs returns n ids in creation order.
func newIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = farm.NewID(t0.Add(time.Duration(i) * time.Millisecond))
	}
	return out
}

// RunStoreContract checks the Store's own contract.
func RunStoreContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("JobRoundTripKeepsEveryField", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		id := newIDs(1)[0]
		j := rawJob(id, farm.StatusRunning, "arm64", 4242)
		j.ScorePinned, j.Priority = true, -7
		j.QueuedAt, j.StartedAt, j.LeaseExpiresAt = farm.TimePtr(t0), farm.TimePtr(t0.Add(time.Second)), farm.TimePtr(t0.Add(30*time.Second))
		j.ReapAt = farm.TimePtr(t0.Add(20 * time.Second))
		j.NotBefore = farm.TimePtr(t0.Add(-time.Minute))
		j.Attempts, j.Builder, j.ClaimToken = 2, "b1", "secret-token"
		j.LogTail, j.Progress, j.BuilderFailures = "line 1\nline 2 ✓\n", "50%", 1
		j.LogInline, j.LogComplete = "the whole log ✓\n", true
		j.ParentID, j.DependsOn = newIDs(1)[0], []string{"01A", "01B"}
		j.IdempotencyKey, j.CancelRequested, j.FollowOnsCreated = "k-1", true, true
		code := 3
		j.ExitCode = &code
		j.Artifacts = []farm.Artifact{
			{Name: "a.tar", Bucket: "b", Key: "artifacts/x/1/a.tar", Size: 10, SHA256: strings.Repeat("ab", 32), Attempt: 1, VersionID: "v-1"},
			{Name: "a.tar", Bucket: "b", Key: "artifacts/x/2/a.tar", Size: 12, Attempt: 2},
		}
		j.Run, j.TimeToStartSeconds = 2, &[]float64{1.25}[0]
		j.Payload = json.RawMessage(`{"pool":"arm64","script":"echo \"hi\""}`)
		create(t, s, j)
		got, err := s.GetJob(ctx, id)
		must(t, err)
		// Payloads may be re-encoded; compare them as JSON values.
		var a, b any
		must(t, json.Unmarshal(got.Payload, &a))
		must(t, json.Unmarshal(j.Payload, &b))
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("payload %s, want %s", got.Payload, j.Payload)
		}
		got.Payload = j.Payload
		if !reflect.DeepEqual(got, j) {
			t.Fatalf("round trip changed the job:\n got %+v\nwant %+v", got, j)
		}
		done := j.Clone()
		done.Status, done.Version, done.FinishedAt = farm.StatusSucceeded, 2, farm.TimePtr(t0.Add(time.Minute))
		// Its end minus its start, as every ending sets it (a store may
		// derive it rather than keep it: farm.Duration).
		d := 59.0
		done.DurationSeconds = &d
		done.ClaimToken, done.LeaseExpiresAt, done.ReapAt = "", nil, nil
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: done}}}))
		got, err = s.GetJob(ctx, id)
		must(t, err)
		if got.DurationSeconds == nil || *got.DurationSeconds != d || got.LeaseExpiresAt != nil || got.ClaimToken != "" {
			t.Fatalf("after replace: %+v", got)
		}
	})

	t.Run("GetMissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.GetJob(ctx, newIDs(1)[0])
		mustCode(t, err, farm.ENotFound)
		_, err = s.JobEvents(ctx, newIDs(1)[0])
		mustCode(t, err, farm.ENotFound)
		_, err = s.GetBuilder(ctx, "nobody")
		mustCode(t, err, farm.ENotFound)
		_, err = s.GetToken(ctx, farm.HashToken("nope"))
		mustCode(t, err, farm.ENotFound)
		_, err = s.GetResourcePool(ctx, "none")
		mustCode(t, err, farm.ENotFound)
		_, err = s.GetResource(ctx, "none", "r")
		mustCode(t, err, farm.ENotFound)
	})

	t.Run("CreateIsConditionalOnAbsence", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		id := newIDs(1)[0]
		create(t, s, rawJob(id, farm.StatusQueued, "default", 1))
		again := rawJob(id, farm.StatusQueued, "default", 99)
		err := s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: again}}})
		mustCode(t, err, farm.EConflict)
		if !errors.Is(err, store.ErrLostRace) {
			t.Fatalf("conflict %v does not wrap ErrLostRace", err)
		}
		got, _ := s.GetJob(ctx, id)
		if got.Score != 1 {
			t.Fatal("a refused create overwrote the job")
		}
	})

	t.Run("ReplaceIsConditionalOnVersionStatusAndToken", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		id := newIDs(1)[0]
		j := rawJob(id, farm.StatusRunning, "default", 1)
		j.ClaimToken = "t1"
		create(t, s, j)
		for name, prev := range map[string]func(*farm.Job){
			"version": func(p *farm.Job) { p.Version = 7 },
			"status":  func(p *farm.Job) { p.Status = farm.StatusQueued },
			"token":   func(p *farm.Job) { p.ClaimToken = "t2" },
		} {
			stale := j.Clone()
			prev(stale)
			next := j.Touched()
			next.Score = 500
			err := s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: stale, Next: next}}})
			if !errors.Is(err, store.ErrLostRace) {
				t.Fatalf("stale %s: %v, want a lost race", name, err)
			}
		}
		got, _ := s.GetJob(ctx, id)
		if got.Score != 1 || got.Version != 1 {
			t.Fatalf("a refused replace changed the job: %+v", got)
		}
	})

	t.Run("ConcurrentWritesOneWinnerPerItem", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// Writers race truly at once (released together) for each of several
		// jobs: per job, exactly one replace of the version they all read
		// wins; every other is a lost race; and the jobs do not disturb each
		// other, so every job has its one winner.
		const items, writers = 6, 8
		ids := newIDs(items)
		var jobs []*farm.Job
		for _, id := range ids {
			j := rawJob(id, farm.StatusQueued, "default", 0)
			create(t, s, j)
			jobs = append(jobs, j)
		}
		start := make(chan struct{})
		wins := make([][]int64, items)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, j := range jobs {
			for w := range writers {
				wg.Go(func() {
					next := j.Touched()
					next.Score = int64(w + 1)
					<-start
					err := s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: next}}})
					if err != nil && !errors.Is(err, store.ErrLostRace) {
						t.Errorf("job %d writer %d: %v", i, w, err)
						return
					}
					if err == nil {
						mu.Lock()
						wins[i] = append(wins[i], next.Score)
						mu.Unlock()
					}
				})
			}
		}
		close(start)
		wg.Wait()
		for i, id := range ids {
			if len(wins[i]) != 1 {
				t.Errorf("job %d: %d writers won the same version, want exactly 1: %v", i, len(wins[i]), wins[i])
				continue
			}
			got, err := s.GetJob(ctx, id)
			must(t, err)
			if got.Score != wins[i][0] || got.Version != 2 {
				t.Errorf("job %d holds score %d version %d, want the winner's %d at version 2", i, got.Score, got.Version, wins[i][0])
			}
		}
	})

	t.Run("CommitIsAllOrNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(3)
		a, b := rawJob(ids[0], farm.StatusQueued, "default", 1), rawJob(ids[1], farm.StatusQueued, "default", 1)
		create(t, s, a, b)
		na, nb := a.Touched(), b.Touched()
		na.Score, nb.Score = 10, 10
		staleB := b.Clone()
		staleB.Version = 9
		bl := &farm.Builder{Name: "b1", Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}, Slots: 1, State: farm.BuilderIdle, Version: 1, CurrentJobs: []string{}, Capabilities: []string{}}
		fresh := rawJob(ids[2], farm.StatusQueued, "default", 1)
		err := s.Commit(ctx, store.Tx{
			Jobs:     []store.JobWrite{{Prev: a, Next: na, Event: &farm.JobEvent{JobID: a.ID, Seq: farm.SeqFor(2), At: t0, To: farm.StatusQueued, Actor: "x"}}, {Prev: staleB, Next: nb}, {Next: fresh}},
			Builders: []store.BuilderWrite{{Next: bl}},
			Tokens:   []*farm.Token{{Hash: farm.HashToken("s"), ID: "tok", Role: farm.RoleAdmin, CreatedAt: t0}},
		})
		mustCode(t, err, farm.EConflict)
		if got, _ := s.GetJob(ctx, a.ID); got.Score != 1 {
			t.Fatal("job a was written by a failed transaction")
		}
		if _, err := s.GetJob(ctx, fresh.ID); !farm.IsCode(err, farm.ENotFound) {
			t.Fatal("a create was applied by a failed transaction")
		}
		if _, err := s.GetBuilder(ctx, "b1"); !farm.IsCode(err, farm.ENotFound) {
			t.Fatal("a builder was written by a failed transaction")
		}
		if _, err := s.GetToken(ctx, farm.HashToken("s")); !farm.IsCode(err, farm.ENotFound) {
			t.Fatal("a token was written by a failed transaction")
		}
		if evs, _ := s.JobEvents(ctx, a.ID); len(evs) != 1 {
			t.Fatalf("a failed transaction appended an event: %d events", len(evs))
		}
	})

	t.Run("EventsAreAppendedInOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		id := newIDs(1)[0]
		j := rawJob(id, farm.StatusQueued, "default", 1)
		create(t, s, j)
		cur := j
		for i, to := range []farm.JobStatus{farm.StatusRunning, farm.StatusFailed, farm.StatusQueued} {
			next := cur.Touched()
			next.Status = to
			ev := &farm.JobEvent{JobID: id, Seq: farm.SeqFor(next.Version), At: t0.Add(time.Duration(i+1) * time.Second), From: cur.Status, To: to, Actor: "a", Detail: fmt.Sprint("step ", i), ExpiresAt: t0.Add(24 * time.Hour)}
			must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: cur, Next: next, Event: ev}}}))
			cur = next
		}
		evs, err := s.JobEvents(ctx, id)
		must(t, err)
		want := []farm.JobStatus{farm.StatusQueued, farm.StatusRunning, farm.StatusFailed, farm.StatusQueued}
		if len(evs) != len(want) {
			t.Fatalf("%d events, want %d", len(evs), len(want))
		}
		for i, ev := range evs {
			if ev.To != want[i] || ev.JobID != id || (i > 0 && (ev.From != want[i-1] || ev.Detail != fmt.Sprint("step ", i-1) || !ev.At.Equal(t0.Add(time.Duration(i)*time.Second)))) {
				t.Fatalf("event %d = %+v", i, ev)
			}
		}
	})

	t.Run("QueuedJobsInDispatchOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(7)
		create(t, s,
			rawJob(ids[0], farm.StatusQueued, "default", 10),
			rawJob(ids[1], farm.StatusQueued, "default", 500),
			rawJob(ids[2], farm.StatusQueued, "default", 10),
			rawJob(ids[3], farm.StatusRunning, "default", 9999),
			rawJob(ids[4], farm.StatusQueued, "arm64", 9999),
			rawJob(ids[5], farm.StatusQueued, "default", -20),
			rawJob(ids[6], farm.StatusQueued, "default", 500),
		)
		got, err := s.QueuedJobs(ctx, "default", 10)
		must(t, err)
		want := []string{ids[1], ids[6], ids[0], ids[2], ids[5]}
		if !reflect.DeepEqual(jobIDs(got), want) {
			t.Fatalf("dispatch order %v, want %v", jobIDs(got), want)
		}
		got, err = s.QueuedJobs(ctx, "default", 2)
		must(t, err)
		if !reflect.DeepEqual(jobIDs(got), want[:2]) {
			t.Fatalf("limit 2: %v", jobIDs(got))
		}
		// A job that leaves the queue leaves the index.
		j, _ := s.GetJob(ctx, ids[1])
		next := j.Touched()
		next.Status = farm.StatusCancelled
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: next}}}))
		got, _ = s.QueuedJobs(ctx, "default", 10)
		if len(got) != 4 || got[0].ID != ids[6] {
			t.Fatalf("after cancel: %v", jobIDs(got))
		}
	})

	t.Run("ReapIndexHoldsActiveJobsByReapAt", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(5)
		mk := func(id string, status farm.JobStatus, builder string, reap time.Duration) *farm.Job {
			j := rawJob(id, status, "default", 1)
			if status.Active() {
				j.Builder, j.ClaimToken = builder, "tok"
				j.StartedAt = farm.TimePtr(t0.Add(-time.Minute))
				j.LeaseExpiresAt = farm.TimePtr(t0.Add(reap + 10*time.Second)) // reap_at trails the lease
				j.ReapAt = farm.TimePtr(t0.Add(reap))
			}
			return j
		}
		create(t, s,
			mk(ids[0], farm.StatusRunning, "b1", -10*time.Second), // due
			mk(ids[1], farm.StatusRunning, "b2", 20*time.Second),  // not yet
			mk(ids[2], farm.StatusCancelling, "b1", -time.Second), // due
			mk(ids[3], farm.StatusQueued, "", 0),                  // not on the index
		)
		due, err := s.DueJobs(ctx, t0, 10)
		must(t, err)
		if !reflect.DeepEqual(due, []string{ids[0], ids[2]}) {
			t.Fatalf("due %v, want %v", due, []string{ids[0], ids[2]})
		}
		all, err := s.ActiveJobs(ctx, "", 0)
		must(t, err)
		started := t0.Add(-time.Minute)
		want := []store.ActiveJob{
			{ID: ids[0], Builder: "b1", Pool: "default", Type: farm.TypeScript, StartedAt: started, ReapAt: t0.Add(-10 * time.Second)},
			{ID: ids[2], Builder: "b1", Pool: "default", Type: farm.TypeScript, StartedAt: started, ReapAt: t0.Add(-time.Second)},
			{ID: ids[1], Builder: "b2", Pool: "default", Type: farm.TypeScript, StartedAt: started, ReapAt: t0.Add(20 * time.Second)},
		}
		if !reflect.DeepEqual(all, want) {
			t.Fatalf("active %+v, want %+v", all, want)
		}
		b1, err := s.ActiveJobs(ctx, "b1", 0)
		must(t, err)
		if len(b1) != 2 || b1[0].ID != ids[0] || b1[1].ID != ids[2] {
			t.Fatalf("b1's %+v", b1)
		}
		if one, _ := s.ActiveJobs(ctx, "", 1); len(one) != 1 {
			t.Fatalf("limit 1: %+v", one)
		}
		// A job that ends leaves the index; a job written without a
		// reap_at (before it existed) is on it by its lease's end.
		j, _ := s.GetJob(ctx, ids[0])
		next := j.Touched()
		next.Status, next.ClaimToken, next.LeaseExpiresAt, next.ReapAt = farm.StatusSucceeded, "", nil, nil
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: next}}}))
		old := mk(ids[4], farm.StatusRunning, "b3", -time.Hour)
		old.ReapAt = nil
		create(t, s, old)
		due, err = s.DueJobs(ctx, t0, 10)
		must(t, err)
		if !reflect.DeepEqual(due, []string{ids[4], ids[2]}) {
			t.Fatalf("due after an ending %v, want %v", due, []string{ids[4], ids[2]})
		}
	})

	t.Run("ListJobsFiltersNewestFirstWithCursor", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(12)
		var want []string
		for i, id := range ids {
			st, pool := farm.StatusQueued, "default"
			if i%3 == 0 {
				st = farm.StatusFailed
			}
			if i%4 == 0 {
				pool = "arm64"
			}
			j := rawJob(id, st, pool, 1)
			if i == 5 {
				j.Type = farm.TypeBinaryBuild
			}
			create(t, s, j)
		}
		for i := len(ids) - 1; i >= 0; i-- {
			if i%3 != 0 && i%4 != 0 {
				want = append(want, ids[i])
			}
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, err := s.ListJobs(ctx, store.JobFilter{Status: farm.StatusQueued, Pool: "default", Limit: 2, Cursor: cursor})
			must(t, err)
			got = append(got, jobIDs(page.Jobs)...)
			if page.NextCursor == "" {
				break
			}
			if pages > 20 {
				t.Fatal("cursor never ends")
			}
			cursor = page.NextCursor
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("queued/default pages %v, want %v", got, want)
		}
		all, err := s.ListJobs(ctx, store.JobFilter{Limit: 100})
		must(t, err)
		if len(all.Jobs) != 12 || all.Jobs[0].ID != ids[11] || all.NextCursor != "" {
			t.Fatalf("all: %d jobs, first %s, cursor %q", len(all.Jobs), all.Jobs[0].ID, all.NextCursor)
		}
		typed, err := s.ListJobs(ctx, store.JobFilter{Type: farm.TypeBinaryBuild})
		must(t, err)
		if len(typed.Jobs) != 1 || typed.Jobs[0].ID != ids[5] {
			t.Fatalf("by type: %v", jobIDs(typed.Jobs))
		}
		_, err = s.ListJobs(ctx, store.JobFilter{Cursor: "!!garbage"})
		mustCode(t, err, farm.EInvalid)
		_, err = s.ListJobs(ctx, store.JobFilter{Limit: store.MaxListLimit + 1})
		mustCode(t, err, farm.EInvalid)
	})

	t.Run("IdempotencyKeyIsTakenOnceUntilItExpires", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(3)
		rec := &farm.Idempotency{Key: "submit:x:k", Status: farm.IdempotencyCompleted, RequestHash: "h1", JobID: ids[0], CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: rawJob(ids[0], farm.StatusQueued, "default", 1)}}, Idempotency: &store.IdempotencyWrite{Next: rec}}))
		dup := *rec
		dup.JobID, dup.RequestHash, dup.CreatedAt = ids[1], "h2", t0.Add(time.Minute)
		err := s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: rawJob(ids[1], farm.StatusQueued, "default", 1)}}, Idempotency: &store.IdempotencyWrite{Next: &dup}})
		if !errors.Is(err, store.ErrIdempotencyKeyTaken) {
			t.Fatalf("second use of a key: %v, want ErrIdempotencyKeyTaken", err)
		}
		if _, err := s.GetJob(ctx, ids[1]); !farm.IsCode(err, farm.ENotFound) {
			t.Fatal("the job of a refused idempotent create exists")
		}
		got, err := s.GetIdempotency(ctx, rec.Key, t0.Add(time.Minute))
		must(t, err)
		if got.JobID != ids[0] || got.RequestHash != "h1" || got.Status != farm.IdempotencyCompleted || !got.ExpiresAt.Equal(rec.ExpiresAt) {
			t.Fatalf("record %+v", got)
		}
		// Once expired (TTL deletion is lazy), the key reads as absent and can be used again.
		_, err = s.GetIdempotency(ctx, rec.Key, t0.Add(2*time.Hour))
		mustCode(t, err, farm.ENotFound)
		later := *rec
		later.JobID, later.CreatedAt, later.ExpiresAt, later.Status = ids[2], t0.Add(2*time.Hour), t0.Add(3*time.Hour), farm.IdempotencyInProgress
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: rawJob(ids[2], farm.StatusQueued, "default", 1)}}, Idempotency: &store.IdempotencyWrite{Next: &later}}))
		// A record is replaced only from the state it was read in.
		done := later
		done.Status = farm.IdempotencyCompleted
		must(t, s.Commit(ctx, store.Tx{Idempotency: &store.IdempotencyWrite{Prev: &later, Next: &done}}))
		mustCode(t, s.Commit(ctx, store.Tx{Idempotency: &store.IdempotencyWrite{Prev: &later, Next: &done}}), farm.EConflict)
		if got, _ := s.GetIdempotency(ctx, rec.Key, t0.Add(2*time.Hour)); got.Status != farm.IdempotencyCompleted {
			t.Fatalf("record not completed: %+v", got)
		}
	})

	t.Run("BuildersTokensPoolsResources", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		hb := farm.TimePtr(t0)
		b := &farm.Builder{Name: "b2", Kind: farm.KindMetal, Arch: "arm64", Pools: []string{"arm64"}, Capabilities: []string{"kvm"}, Slots: 2,
			Metadata: map[string]string{"instance_id": "i-1"}, State: farm.BuilderIdle, CleanStatus: farm.CleanClean, LastHeartbeat: hb,
			CurrentJobs: []string{}, RegisteredAt: t0, UpdatedAt: t0, Version: 1}
		a := b.Clone()
		a.Name = "a1"
		must(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Next: b}, {Next: a}}}))
		mustCode(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Next: b}}}), farm.EConflict)
		got, err := s.GetBuilder(ctx, "b2")
		must(t, err)
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("builder round trip:\n got %+v\nwant %+v", got, b)
		}
		next := b.Clone()
		next.Version, next.CurrentJobs, next.State = 2, []string{"j1"}, farm.BuilderBusy
		must(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: next}}}))
		mustCode(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: next}}}), farm.EConflict)
		list, err := s.ListBuilders(ctx)
		must(t, err)
		if len(list) != 2 || list[0].Name != "a1" || list[1].State != farm.BuilderBusy {
			t.Fatalf("builders %+v", list)
		}

		tok := &farm.Token{Hash: farm.HashToken("sekrit"), ID: "t-1", Role: farm.RoleBuilder, Builder: "b2", Name: "ci", CreatedBy: "admin", CreatedAt: t0}
		must(t, s.Commit(ctx, store.Tx{Tokens: []*farm.Token{tok}}))
		mustCode(t, s.Commit(ctx, store.Tx{Tokens: []*farm.Token{tok}}), farm.EConflict)
		gt, err := s.GetToken(ctx, tok.Hash)
		must(t, err)
		if !reflect.DeepEqual(gt, tok) {
			t.Fatalf("token %+v", gt)
		}

		pool := &farm.ResourcePool{Name: "ppas", Description: "test PPAs", LeaseSeconds: 60, CleanScript: "true", CreatedAt: t0, UpdatedAt: t0, Version: 1}
		r1 := &farm.Resource{Pool: "ppas", Name: "ppa-1", Attributes: map[string]string{"url": "x"}, State: farm.ResourceFree, UpdatedAt: t0, Version: 1}
		r2 := &farm.Resource{Pool: "ppas", Name: "ppa-0", State: farm.ResourceUsed, Holder: "h", LeaseToken: "lt", LeaseExpiresAt: farm.TimePtr(t0.Add(-time.Second)), UpdatedAt: t0, Version: 1}
		other := &farm.Resource{Pool: "devices", Name: "d", State: farm.ResourceUsed, LeaseExpiresAt: farm.TimePtr(t0.Add(time.Hour)), UpdatedAt: t0, Version: 1}
		must(t, s.Commit(ctx, store.Tx{Pools: []store.PoolWrite{{Next: pool}}, Resources: []store.ResourceWrite{{Next: r1}, {Next: r2}, {Next: other}}}))
		gp, err := s.GetResourcePool(ctx, "ppas")
		must(t, err)
		if !reflect.DeepEqual(gp, pool) {
			t.Fatalf("pool %+v", gp)
		}
		rs, err := s.ListResources(ctx, "ppas")
		must(t, err)
		if len(rs) != 2 || rs[0].Name != "ppa-0" || rs[0].LeaseToken != "lt" || !reflect.DeepEqual(rs[1], r1) {
			t.Fatalf("resources %+v", rs)
		}
		exp, err := s.ExpiredResourceLeases(ctx, t0, 10)
		must(t, err)
		if len(exp) != 1 || exp[0].Name != "ppa-0" {
			t.Fatalf("expired resource leases %+v", exp)
		}
		nr := r1.Clone()
		nr.State, nr.Version = farm.ResourceUsed, 2
		must(t, s.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Prev: r1, Next: nr}}}))
		mustCode(t, s.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Prev: r1, Next: nr}}}), farm.EConflict)
		np := pool.Clone()
		np.Version, np.LeaseSeconds = 2, 120
		must(t, s.Commit(ctx, store.Tx{Pools: []store.PoolWrite{{Prev: pool, Next: np}}}))
		mustCode(t, s.Commit(ctx, store.Tx{Pools: []store.PoolWrite{{Prev: pool, Next: np}}}), farm.EConflict)
	})
}
