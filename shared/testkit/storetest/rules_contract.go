package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunRulesContract checks the farm's rules end to end, through its
// services, over a store.
func RunRulesContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	cfg := farm.Policy{Heartbeat: 10 * time.Second, RequeueBackoff: 5 * time.Second}

	t.Run("SubmitValidatesThenQueuesAndRings", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		for _, tc := range []struct {
			req   admission.Request
			field string
		}{
			{admission.Request{Type: "nope"}, "type"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{}`)}, "payload.script"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x","bogus":1}`)}, "payload.bogus"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x","pool":"riscv64"}`)}, "payload"},
			{admission.Request{Type: farm.TypeCleanResource, Payload: json.RawMessage(`{"resource_pool":"p","resource":"r"}`)}, "type"},
			{admission.Request{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(`{"package":"hello","pocket":"nowhere"}`)}, "payload.pocket"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), MaxAttempts: ptr(0)}, "max_attempts"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: []string{"nope"}}, "depends_on[0]"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: []string{farm.NewID(time.Now())}}, "depends_on[0]"},
			{admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x","then":[{"type":"script","payload":{}}]}`)}, "payload.then[0]"},
		} {
			_, _, err := e.Jobs.Submit(ctx, tc.req)
			fe, ok := err.(*farm.Error)
			if !ok || fe.Code != farm.EInvalid || fe.Field != tc.field {
				t.Errorf("submit %s %s: %v (field %q), want invalid on %q", tc.req.Type, tc.req.Payload, err, fieldOf(err), tc.field)
			}
		}
		if page, _ := e.Store.ListJobs(ctx, store.JobFilter{}); len(page.Jobs) != 0 {
			t.Fatalf("refused submissions stored %d jobs", len(page.Jobs))
		}
		j := e.ScriptJob(t, "arm64", 7)
		if j.Status != farm.StatusQueued || j.Pool != "arm64" || j.Score != 7 || j.MaxAttempts != 3 || j.Attempts != 0 || j.QueuedAt == nil {
			t.Fatalf("submitted job %+v", j)
		}
		if e.Bell.Count(j.ID) != 1 {
			t.Fatalf("rang %d times, want 1", e.Bell.Count(j.ID))
		}
		evs, err := e.Store.JobEvents(ctx, j.ID)
		must(t, err)
		if len(evs) != 1 || evs[0].To != farm.StatusQueued || evs[0].Actor != "submitter:test" {
			t.Fatalf("history %+v", evs)
		}
		// Launchpad-style scores: security/main/high + private + priority
		// (a private archive is an admin's to declare).
		b, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(`{"package":"hello","pocket":"security","component":"main","urgency":"high","private":true}`), Priority: ptr64(3), Privileged: true})
		must(t, err)
		if want := int64(4500 + 1000 + 15 + farm.PrivateArchiveBonus + 3); b.Score != want || b.Pool != "amd64" {
			t.Fatalf("binary-build score %d pool %s, want %d amd64", b.Score, b.Pool, want)
		}
	})

	t.Run("IdempotencyKeyReturnsTheFirstJob", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		req := admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"make"}`), IdempotencyKey: "k1", IdempotencyScope: "alice", RequestedBy: "alice"}
		first, created, err := e.Jobs.Submit(ctx, req)
		must(t, err)
		if !created {
			t.Fatal("first submit not created")
		}
		again, created, err := e.Jobs.Submit(ctx, req)
		must(t, err)
		if created || again.ID != first.ID {
			t.Fatalf("repeat made a new job: %s vs %s (created=%v)", again.ID, first.ID, created)
		}
		diff := req
		diff.Payload = json.RawMessage(`{"script":"make install"}`)
		_, _, err = e.Jobs.Submit(ctx, diff)
		mustCode(t, err, farm.EIdempotencyMismatch)
		other := req
		other.IdempotencyScope = "bob"
		third, created, err := e.Jobs.Submit(ctx, other)
		must(t, err)
		if !created || third.ID == first.ID {
			t.Fatal("another caller's key collided")
		}
		if page, _ := e.Store.ListJobs(ctx, store.JobFilter{}); len(page.Jobs) != 2 {
			t.Fatalf("%d jobs stored, want 2", len(page.Jobs))
		}
		// Concurrent repeats still make one job.
		req.IdempotencyKey = "k2"
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j, _, err := e.Jobs.Submit(ctx, req)
				if err == nil {
					got[i] = j.ID
				}
			}()
		}
		wg.Wait()
		for _, id := range got {
			if id == "" || id != got[0] {
				t.Fatalf("concurrent idempotent submits returned %v", got)
			}
		}
	})

	t.Run("ClaimsFollowScoreThenAge", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b1", 10)
		var want []string
		low1 := e.ScriptJob(t, "default", 1)
		e.Clock.Advance(time.Millisecond)
		high1 := e.ScriptJob(t, "default", 100)
		e.Clock.Advance(time.Millisecond)
		low2 := e.ScriptJob(t, "default", 1)
		e.Clock.Advance(time.Millisecond)
		high2 := e.ScriptJob(t, "default", 100)
		e.Clock.Advance(time.Millisecond)
		neg := e.ScriptJob(t, "default", -5)
		e.ScriptJob(t, "arm64", 1000) // another pool
		pinned := e.ScriptJob(t, "default", 0)
		_, err := e.Jobs.PinScore(ctx, Admin, pinned.ID, 1000)
		must(t, err)
		want = []string{pinned.ID, high1.ID, high2.ID, low1.ID, low2.ID, neg.ID}
		for i, w := range want {
			j, err := e.Claim(ctx, "b1", "default")
			must(t, err)
			if j == nil || j.ID != w {
				t.Fatalf("claim %d = %v, want %s", i, j, w)
			}
		}
		j, err := e.Claim(ctx, "b1", "default")
		if err != nil || j != nil {
			t.Fatalf("empty pool claim = %v, %v", j, err)
		}
		_, err = e.Claim(ctx, "b1", "arm64")
		mustCode(t, err, farm.EForbidden)
		_, err = e.Claim(ctx, "ghost", "default")
		mustCode(t, err, farm.ENotFound)
	})

	// A builder's slots: a claim whose caller says how many jobs the
	// builder holds (its agent's own count) is refused when they fill its
	// slots and otherwise trusted — the farm writes no builder item per
	// claim to count them; a claim that does not say is counted on the
	// reap index. The builder's current jobs are the ones it holds there.
	t.Run("SlotsFollowTheAgentsCount", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b1", 2)
		for range 5 {
			e.ScriptJob(t, "default", 0)
		}
		by := farm.Principal{Role: farm.RoleBuilder, Builder: "b1"}
		if _, err := e.Claims.ClaimFor(ctx, by, "b1", "default", 2); !farm.IsCode(err, farm.EConflict) {
			t.Fatalf("claim with both slots held: %v, want a conflict", err)
		}
		var held []string
		for range 2 {
			j, err := e.Claim(ctx, "b1", "default")
			must(t, err)
			if j == nil {
				t.Fatal("no job for a builder with a free slot")
			}
			held = append(held, j.ID)
		}
		// Counted on the reap index: both slots are held.
		if j, err := e.Claim(ctx, "b1", "default"); j != nil || !farm.IsCode(err, farm.EConflict) {
			t.Fatalf("third claim on two slots: %v %v, want a conflict", j, err)
		}
		b, err := e.Builders.Get(ctx, "b1")
		must(t, err)
		slices.Sort(held)
		if !reflect.DeepEqual(b.CurrentJobs, held) || b.State != farm.BuilderBusy {
			t.Fatalf("builder holds %v (%s); want %v busy", b.CurrentJobs, b.State, held)
		}
		// The agent's count is trusted: it overbooks only itself.
		c, err := e.Claims.ClaimFor(ctx, by, "b1", "default", 1)
		must(t, err)
		if c == nil {
			t.Fatal("a claim whose agent says a slot is free got nothing")
		}
		if _, err := e.Claims.ClaimFor(ctx, by, "b1", "default", -2); !farm.IsCode(err, farm.EInvalid) {
			t.Fatalf("a negative count: %v, want invalid", err)
		}
	})

	t.Run("ClaimRaceEveryJobOnceStaleTokensRefused", func(t *testing.T) {
		t.Parallel()
		ClaimRace(t, NewEnv(t, newStore, cfg), 20, 50)
	})

	t.Run("LeaseLossRequeuesAndFencesTheOldBuilder", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "old", 1)
		e.Builder(t, "new", 1)
		j := e.ScriptJob(t, "default", 0)
		claimed, err := e.Claim(ctx, "old", "default")
		must(t, err)
		oldToken := claimed.ClaimToken
		// A heartbeat renews the lease and carries the log.
		e.Clock.Advance(20 * time.Second)
		hb, err := e.Claims.Heartbeat(ctx, "old", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: oldToken, Log: "compiling\n"}}, false)
		must(t, err)
		if hb.Stale || len(hb.Directives) != 0 || !hb.LeaseExpiresAt.Equal(e.Clock.Now().Add(30*time.Second)) {
			t.Fatalf("heartbeat %+v", hb)
		}
		// The builder vanishes: nothing until the lease ends.
		e.Clock.Advance(29 * time.Second)
		rep, err := e.Reaper.Reap(ctx)
		must(t, err)
		if rep.LeasesExpired != 0 {
			t.Fatal("reaped a live lease")
		}
		e.Clock.Advance(2 * time.Second)
		rep, err = e.Reaper.Reap(ctx)
		must(t, err)
		if rep.LeasesExpired != 1 {
			t.Fatalf("reaper report %+v", rep)
		}
		requeued, _ := e.Store.GetJob(ctx, j.ID)
		if requeued.Status != farm.StatusQueued || requeued.Attempts != 1 || requeued.NotBefore == nil || requeued.Builder != "" || requeued.BuilderFailures != 1 {
			t.Fatalf("requeued job %+v", requeued)
		}
		if ob, _ := e.Store.GetBuilder(ctx, "old"); ob.State != farm.BuilderLost || len(ob.CurrentJobs) != 0 || ob.ConsecutiveFailures != 1 {
			t.Fatalf("old builder %+v", ob)
		}
		// Held back: no claim until the backoff passes.
		if got, _ := e.Claim(ctx, "new", "default"); got != nil {
			t.Fatal("claimed a job during its backoff")
		}
		e.Clock.Advance(5 * time.Second)
		second, err := e.Claim(ctx, "new", "default")
		must(t, err)
		if second == nil || second.Attempts != 2 || second.ClaimToken == oldToken {
			t.Fatalf("second claim %+v", second)
		}
		// The old builder comes back: its heartbeat and result are refused.
		hb, err = e.Claims.Heartbeat(ctx, "old", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: oldToken}}, false)
		must(t, err)
		if !hb.Stale || len(hb.Directives) != 1 || hb.Directives[0].Action != claims.DirectiveCancel {
			t.Fatalf("stale heartbeat %+v", hb)
		}
		_, err = e.Claims.Record(ctx, "old", j.ID, farm.Completion{ClaimToken: oldToken, Result: farm.StatusSucceeded})
		mustCode(t, err, farm.EConflict)
		done, err := e.Claims.Record(ctx, "new", j.ID, farm.Completion{ClaimToken: second.ClaimToken, Result: farm.StatusFailed, Error: "exit status 2", ExitCode: ptr(2)})
		must(t, err)
		if done.Status != farm.StatusFailed || done.Builder != "new" || *done.ExitCode != 2 || done.FinishedAt == nil || done.DurationSeconds == nil {
			t.Fatalf("final job %+v", done)
		}
		evs, _ := e.Store.JobEvents(ctx, j.ID)
		var path []string
		for _, ev := range evs {
			path = append(path, string(ev.To))
		}
		if got := strings.Join(path, ">"); got != "queued>running>queued>running>failed" {
			t.Fatalf("history %s", got)
		}
	})

	t.Run("LastAttemptLostEndsTimedOut", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1)
		j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), MaxAttempts: ptr(1)})
		must(t, err)
		_, err = e.Claim(ctx, "b", "default")
		must(t, err)
		e.Clock.Advance(31 * time.Second)
		_, err = e.Reaper.Reap(ctx)
		must(t, err)
		got, _ := e.Store.GetJob(ctx, j.ID)
		if got.Status != farm.StatusTimedOut || got.Attempts != 1 || got.Error == "" {
			t.Fatalf("job %+v", got)
		}
	})

	t.Run("CancelQueuedAndRunning", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1)
		q := e.ScriptJob(t, "default", 0)
		r := e.ScriptJob(t, "default", 10)
		running, err := e.Claim(ctx, "b", "default")
		must(t, err)
		if running.ID != r.ID {
			t.Fatal("claimed the wrong job")
		}
		c, err := e.Jobs.Cancel(ctx, Submitter("test"), q.ID)
		must(t, err)
		if c.Status != farm.StatusCancelled {
			t.Fatalf("queued cancel -> %s", c.Status)
		}
		_, err = e.Jobs.Cancel(ctx, Submitter("test"), q.ID)
		mustCode(t, err, farm.EConflict)
		c, err = e.Jobs.Cancel(ctx, Submitter("test"), r.ID)
		must(t, err)
		if c.Status != farm.StatusCancelling {
			t.Fatalf("running cancel -> %s", c.Status)
		}
		hb, err := e.Claims.Heartbeat(ctx, "b", []claims.HeartbeatJob{{ID: r.ID, ClaimToken: running.ClaimToken}}, false)
		must(t, err)
		if hb.Stale || len(hb.Directives) != 1 || hb.Directives[0].JobID != r.ID || hb.Directives[0].Action != claims.DirectiveCancel {
			t.Fatalf("heartbeat %+v", hb)
		}
		done, err := e.Claims.Record(ctx, "b", r.ID, farm.Completion{ClaimToken: running.ClaimToken, Result: farm.StatusCancelled})
		must(t, err)
		if done.Status != farm.StatusCancelled {
			t.Fatalf("complete while cancelling -> %s", done.Status)
		}
		_, err = e.Jobs.Retry(ctx, Submitter("test"), r.ID)
		must(t, err)
		again, _ := e.Store.GetJob(ctx, r.ID)
		if again.Status != farm.StatusQueued || again.Attempts != 0 {
			t.Fatalf("retried %+v", again)
		}
	})

	t.Run("RetryOnlyUnsuccessfulJobs", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1)
		j := e.ScriptJob(t, "default", 0)
		_, err := e.Jobs.Retry(ctx, Submitter("test"), j.ID)
		mustCode(t, err, farm.EConflict)
		c, _ := e.Claim(ctx, "b", "default")
		_, err = e.Claims.Record(ctx, "b", j.ID, farm.Completion{ClaimToken: c.ClaimToken, Result: farm.StatusSucceeded})
		must(t, err)
		_, err = e.Jobs.Retry(ctx, Submitter("test"), j.ID)
		mustCode(t, err, farm.EConflict)
		_, err = e.Jobs.Cancel(ctx, Submitter("test"), j.ID)
		mustCode(t, err, farm.EConflict)
		_, err = e.Jobs.Retry(ctx, Submitter("test"), farm.NewID(time.Now()))
		mustCode(t, err, farm.ENotFound)
	})

	t.Run("JobPastItsTimeoutIsTimedOutAndCancelledOnTheBuilder", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1)
		j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"sleep 100"}`), TimeoutSeconds: ptr(25)})
		must(t, err)
		c, _ := e.Claim(ctx, "b", "default")
		for range 3 { // heartbeats keep the lease alive past the timeout
			e.Clock.Advance(10 * time.Second)
			_, err := e.Claims.Heartbeat(ctx, "b", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: c.ClaimToken}}, false)
			must(t, err)
		}
		rep, err := e.Reaper.Reap(ctx)
		must(t, err)
		got, _ := e.Store.GetJob(ctx, j.ID)
		if rep.TimedOut != 1 || got.Status != farm.StatusTimedOut {
			t.Fatalf("report %+v, job %s", rep, got.Status)
		}
		hb, err := e.Claims.Heartbeat(ctx, "b", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: c.ClaimToken}}, false)
		must(t, err)
		if len(hb.Directives) != 1 || hb.Directives[0].Action != claims.DirectiveCancel || hb.Stale {
			t.Fatalf("heartbeat after timeout %+v", hb)
		}
		_, err = e.Claims.Record(ctx, "b", j.ID, farm.Completion{ClaimToken: c.ClaimToken, Result: farm.StatusSucceeded})
		mustCode(t, err, farm.EConflict)
		if b, _ := e.Store.GetBuilder(ctx, "b"); len(b.CurrentJobs) != 0 {
			t.Fatalf("builder still holds %v", b.CurrentJobs)
		}
	})

	t.Run("DependenciesReleaseInOrderAndFailureCascades", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1)
		a := e.ScriptJob(t, "default", 0)
		sub := func(deps ...string) *farm.Job {
			j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: deps})
			must(t, err)
			return j
		}
		b := sub(a.ID)
		c := sub(b.ID)
		d := sub(a.ID, c.ID)
		for _, j := range []*farm.Job{b, c, d} {
			if j.Status != farm.StatusWaiting {
				t.Fatalf("%s is %s, want waiting", j.ID, j.Status)
			}
		}
		run := func(want string, result farm.JobStatus) {
			t.Helper()
			j, err := e.Claim(ctx, "b", "default")
			must(t, err)
			if j == nil || j.ID != want {
				t.Fatalf("claimed %v, want %s", j, want)
			}
			_, err = e.Claims.Record(ctx, "b", j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: result, Error: "boom"})
			must(t, err)
		}
		run(a.ID, farm.StatusSucceeded)
		if got, _ := e.Store.GetJob(ctx, b.ID); got.Status != farm.StatusQueued {
			t.Fatalf("b is %s after a succeeded", got.Status)
		}
		if got, _ := e.Store.GetJob(ctx, d.ID); got.Status != farm.StatusWaiting {
			t.Fatalf("d is %s while c is unfinished", got.Status)
		}
		run(b.ID, farm.StatusFailed)
		for _, j := range []*farm.Job{c, d} {
			got, _ := e.Store.GetJob(ctx, j.ID)
			if got.Status != farm.StatusFailed || !strings.Contains(got.Error, "dependency") {
				t.Fatalf("%s is %s (%q), want failed by its dependency", j.ID, got.Status, got.Error)
			}
		}
		// A dependency already failed at submit fails the new job at once.
		late := sub(b.ID)
		if late.Status != farm.StatusFailed || !strings.Contains(late.Error, b.ID) {
			t.Fatalf("late dependent %s %q", late.Status, late.Error)
		}
		// The sweep releases a waiting job whose release was missed.
		e2 := sub(a.ID)
		if e2.Status != farm.StatusQueued {
			t.Fatalf("job depending on a succeeded job is %s", e2.Status)
		}
	})

	t.Run("FollowOnsAreCreatedOnce", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1)
		p, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x","then":[{"type":"script","payload":{"script":"a"}},{"type":"script","payload":{"script":"b","pool":"arm64"},"priority":9}]}`), RequestedBy: "carol"})
		must(t, err)
		c, _ := e.Claim(ctx, "b", "default")
		done, err := e.Claims.Record(ctx, "b", p.ID, farm.Completion{ClaimToken: c.ClaimToken, Result: farm.StatusSucceeded})
		must(t, err)
		e.FollowUp.After(ctx, done) // the dispatcher sees it again
		page, _ := e.Store.ListJobs(ctx, store.JobFilter{})
		var children []*farm.Job
		for _, j := range page.Jobs {
			if j.ParentID == p.ID {
				children = append(children, j)
			}
		}
		if len(children) != 2 {
			t.Fatalf("%d follow-on jobs, want 2", len(children))
		}
		for _, ch := range children {
			if ch.Status != farm.StatusQueued || ch.RequestedBy != "carol" || e.Bell.Count(ch.ID) == 0 {
				t.Fatalf("follow-on %+v", ch)
			}
		}
		if parent, _ := e.Store.GetJob(ctx, p.ID); !parent.FollowOnsCreated {
			t.Fatal("parent not marked")
		}
	})

	t.Run("BuilderHealthBlamesTheSideThatFailsMore", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, farm.Policy{Heartbeat: 10 * time.Second, RequeueBackoff: time.Second, BuilderMaxFailures: 3, JobMaxBuilderFailures: 3})
		e.Builder(t, "flaky", 1)
		// Three different jobs lost in a row by one builder: the builder is to blame.
		for i := range 3 {
			j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(fmt.Sprintf(`{"script":"job %d"}`, i)), MaxAttempts: ptr(5)})
			must(t, err)
			got, err := e.Claim(ctx, "flaky", "default")
			must(t, err)
			if got == nil || got.ID != j.ID {
				t.Fatalf("round %d: claimed %v", i, got)
			}
			e.Clock.Advance(31 * time.Second)
			_, err = e.Reaper.Reap(ctx)
			must(t, err)
			_, err = e.Jobs.Cancel(ctx, Admin, j.ID) // keep it out of the next round
			must(t, err)
		}
		b, _ := e.Store.GetBuilder(ctx, "flaky")
		if !b.Disabled || b.State != farm.BuilderDisabled || !strings.Contains(b.DisabledReason, "3 consecutive failures") {
			t.Fatalf("builder %+v", b)
		}
		e.ScriptJob(t, "default", 0)
		_, err := e.Claim(ctx, "flaky", "default")
		mustCode(t, err, farm.EConflict)
		b, err = e.Builders.Enable(ctx, Admin, "flaky", "replaced disk")
		must(t, err)
		if b.Disabled || b.ConsecutiveFailures != 0 || b.State == farm.BuilderDisabled {
			t.Fatalf("enabled builder %+v", b)
		}

		// One job that kills three healthy builders is the job's fault.
		killer, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"fork bomb","pool":"arm64"}`), MaxAttempts: ptr(10)})
		must(t, err)
		for i := range 3 {
			name := fmt.Sprintf("victim-%d", i)
			e.Builder(t, name, 1, "arm64")
			e.Clock.Advance(2 * time.Minute) // past any backoff
			got, err := e.Claim(ctx, name, "arm64")
			must(t, err)
			if got == nil {
				t.Fatalf("%s claimed nothing", name)
			}
			e.Clock.Advance(31 * time.Second)
			_, err = e.Reaper.Reap(ctx)
			must(t, err)
		}
		got, _ := e.Store.GetJob(ctx, killer.ID)
		if got.Status != farm.StatusFailed || got.BuilderFailures != 3 {
			t.Fatalf("killer job %s after %d builder failures", got.Status, got.BuilderFailures)
		}
		for i := range 3 {
			if v, _ := e.Store.GetBuilder(ctx, fmt.Sprintf("victim-%d", i)); v.Disabled {
				t.Fatalf("victim %d disabled for the job's fault", i)
			}
		}
	})

	t.Run("JobsNeedingACleanBuilderLeaveItDirty", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b", 1, "amd64")
		live := func() *farm.Job {
			j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeLiveImageBuild, Payload: json.RawMessage(`{"project":"ubuntu","series":"noble"}`)})
			must(t, err)
			return j
		}
		run := func(want string) {
			t.Helper()
			j, err := e.Claim(ctx, "b", "amd64")
			must(t, err)
			if j == nil || j.ID != want {
				t.Fatalf("claimed %v, want %s", j, want)
			}
			_, err = e.Claims.Record(ctx, "b", j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: farm.StatusSucceeded})
			must(t, err)
		}
		first := live()
		run(first.ID)
		if b, _ := e.Store.GetBuilder(ctx, "b"); b.CleanStatus != farm.CleanDirty {
			t.Fatalf("builder %s after a live image build", b.CleanStatus)
		}
		second := live()
		bin, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(`{"package":"hello"}`)})
		must(t, err)
		// The dirty builder skips the image build (it scores higher) and takes the binary build.
		run(bin.ID)
		if j, _ := e.Claim(ctx, "b", "amd64"); j != nil {
			t.Fatalf("a dirty builder claimed %s", j.Type)
		}
		e.Builder(t, "b", 1, "amd64") // reset and registered again: clean
		run(second.ID)
	})

	t.Run("HeartbeatFromAnUnknownBuilderAsksToReregister", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		hb, err := e.Claims.Heartbeat(ctx, "stranger", nil, false)
		must(t, err)
		if len(hb.Directives) != 1 || hb.Directives[0].Action != claims.DirectiveReregister {
			t.Fatalf("heartbeat %+v", hb)
		}
		e.Builder(t, "stranger", 1)
		hb, err = e.Claims.Heartbeat(ctx, "stranger", nil, true)
		must(t, err)
		b, _ := e.Store.GetBuilder(ctx, "stranger")
		if !hb.Drain || b.State != farm.BuilderDraining {
			t.Fatalf("draining builder %+v / %+v", hb, b)
		}
	})

	t.Run("ReaperRingsAgainForAQueueWhoseDoorbellWasLost", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		j := e.ScriptJob(t, "amd64", 0)
		rep, err := e.Reaper.Reap(ctx)
		must(t, err)
		if len(rep.PoolsRung) != 0 {
			t.Fatal("rang for a fresh job")
		}
		e.Clock.Advance(time.Minute)
		rep, err = e.Reaper.Reap(ctx)
		must(t, err)
		if len(rep.PoolsRung) != 1 || rep.PoolsRung[0] != "amd64" || e.Bell.Count(j.ID) != 2 {
			t.Fatalf("report %+v, rings %d", rep, e.Bell.Count(j.ID))
		}
		var amd PoolStatView
		for _, p := range rep.Pools {
			if p.Pool == "amd64" {
				amd = PoolStatView(p)
			}
		}
		if amd.Queued != 1 || amd.OldestAgeSeconds < 59 {
			t.Fatalf("pool stats %+v", amd)
		}
	})
}

// PoolStatView aliases the reaper's per-pool figures.
type PoolStatView reaper.PoolStat

// ClaimRace submits jobs, lets claimers race for them, and checks that every
// job was claimed exactly once, every claimer got a distinct job or none, and
// that a stale or foreign token can never complete a job.
func ClaimRace(t *testing.T, e *Env, jobs, claimers int) {
	ctx := context.Background()
	for i := range claimers {
		e.Builder(t, fmt.Sprintf("racer-%02d", i), 1)
	}
	for range jobs {
		e.ScriptJob(t, "default", 0)
	}
	type win struct {
		builder string
		job     *farm.Job
	}
	results := make(chan win, claimers)
	errs := make(chan error, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			name := fmt.Sprintf("racer-%02d", i)
			j, err := e.Claim(ctx, name, "default")
			if err != nil {
				errs <- err
				return
			}
			results <- win{name, j}
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("claim error: %v", err)
	}
	owner := map[string]string{}
	tokens := map[string]string{}
	none := 0
	for r := range results {
		if r.job == nil {
			none++
			continue
		}
		if prev, dup := owner[r.job.ID]; dup {
			t.Fatalf("job %s claimed by both %s and %s", r.job.ID, prev, r.builder)
		}
		owner[r.job.ID], tokens[r.job.ID] = r.builder, r.job.ClaimToken
	}
	if len(owner) != jobs || none != claimers-jobs {
		t.Fatalf("%d jobs claimed, %d claimers got none; want %d and %d", len(owner), none, jobs, claimers-jobs)
	}
	page, err := e.Store.ListJobs(ctx, store.JobFilter{Limit: store.MaxListLimit})
	must(t, err)
	for _, j := range page.Jobs {
		if j.Status != farm.StatusRunning || j.Attempts != 1 || j.Builder != owner[j.ID] {
			t.Fatalf("job %s is %s on %s after %d attempts", j.ID, j.Status, j.Builder, j.Attempts)
		}
	}
	// Stale and foreign tokens never complete a job.
	var some string
	for id := range owner {
		some = id
		break
	}
	for _, bad := range []struct{ builder, token string }{
		{owner[some], "not-the-token"},
		{owner[some], ""},
		{"racer-99", tokens[some]},
	} {
		_, err := e.Claims.Record(ctx, bad.builder, some, farm.Completion{ClaimToken: bad.token, Result: farm.StatusSucceeded})
		if !farm.IsCode(err, farm.EConflict) {
			t.Fatalf("complete by %s with %q: %v, want conflict", bad.builder, bad.token, err)
		}
	}
	if j, _ := e.Store.GetJob(ctx, some); j.Status != farm.StatusRunning {
		t.Fatalf("a refused completion changed the job to %s", j.Status)
	}
}

func ptr(i int) *int       { return &i }
func ptr64(i int64) *int64 { return &i }

func fieldOf(err error) string {
	if fe, ok := err.(*farm.Error); ok {
		return fe.Field
	}
	return ""
}
