package jobs_test

import (
	"encoding/json"
	"testing"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A submitted job is stored queued with its first event and its pool rung.
func TestSubmitStoresAndRings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	j := f.submit(t, alice, `{"script":"true"}`)
	stored, err := f.mem.GetJob(ctx, j.ID)
	must(t, err)
	evs, err := f.mem.JobEvents(ctx, j.ID)
	must(t, err)
	if stored.Status != farm.StatusQueued || stored.QueuedAt == nil || f.bell.count(j.ID) != 1 || len(evs) != 1 || evs[0].Actor != "submitter:alice" {
		t.Fatalf("stored %+v, events %+v, rings %d", stored, evs, f.bell.count(j.ID))
	}
	if _, _, err := f.Submit(ctx, admission.Request{Type: "nope"}); !farm.IsCode(err, farm.EInvalid) {
		t.Fatalf("invalid request: %v", err)
	}
}

// An idempotency key returns the first job for the same request, refuses
// another request, and is scoped to its caller.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	req := func(scope, script string) admission.Request {
		return admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"` + script + `"}`), IdempotencyKey: "k1", IdempotencyScope: scope, RequestedBy: scope}
	}
	first, created, err := f.Submit(ctx, req("alice", "make"))
	if err != nil || !created {
		t.Fatalf("first: %v created=%v", err, created)
	}
	again, created, err := f.Submit(ctx, req("alice", "make"))
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("repeat: %+v created=%v %v", again, created, err)
	}
	_, _, err = f.Submit(ctx, req("alice", "make install"))
	mustCode(t, err, farm.EIdempotencyMismatch)
	other, created, err := f.Submit(ctx, req("bob", "make"))
	if err != nil || !created || other.ID == first.ID {
		t.Fatalf("another caller's key: %+v created=%v %v", other, created, err)
	}
	if f.bell.count(first.ID) != 1 {
		t.Fatalf("the first job was rung %d times", f.bell.count(first.ID))
	}
}

// A key recorded by a submission that died before writing its job: the
// repeat writes the job under the recorded id, so there is one job.
func TestIdempotencyReplayWritesTheRecordedJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	req := admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"make"}`), IdempotencyKey: "k", IdempotencyScope: "alice", RequestedBy: "alice"}
	first, _, err := f.Submit(ctx, req)
	must(t, err)
	// Take the job away, as if its write never happened.
	rec, err := f.mem.GetIdempotency(ctx, "submit:alice:k", t0)
	must(t, err)
	g := newFixture(t, farm.Policy{})
	must(t, g.mem.Commit(ctx, store.Tx{Idempotency: &store.IdempotencyWrite{Next: rec}}))
	j, created, err := g.Submit(ctx, req)
	if err != nil || created || j.ID != first.ID {
		t.Fatalf("replay: %+v created=%v %v, want job %s", j, created, err, first.ID)
	}
	if _, err := g.mem.GetJob(ctx, first.ID); err != nil {
		t.Fatalf("the recorded job was not written: %v", err)
	}
}

// Dependencies: unfinished ones make the job wait (counted and edged),
// a failed one fails it at once, a missing one or a full one is refused.
func TestDependencies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{MaxDependents: 1})
	running := f.submit(t, alice, `{"script":"a"}`)
	waiting := f.submit(t, alice, `{"script":"b"}`, running.ID)
	if waiting.Status != farm.StatusWaiting || f.bell.count(waiting.ID) != 0 {
		t.Fatalf("job with an unfinished dependency is %s (rung %d)", waiting.Status, f.bell.count(waiting.ID))
	}
	if deps, _ := f.mem.Dependents(ctx, running.ID, 0); len(deps) != 1 || deps[0] != waiting.ID {
		t.Fatalf("dependents %v", deps)
	}
	// The limit of dependents is reached.
	_, _, err := f.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"c"}`), DependsOn: []string{running.ID}})
	mustCode(t, err, farm.EInvalid)
	failed := f.set(t, f.submit(t, alice, `{"script":"d"}`).ID, farm.StatusFailed, nil)
	doomed := f.submit(t, alice, `{"script":"e"}`, failed.ID)
	if doomed.Status != farm.StatusFailed || doomed.Error == "" {
		t.Fatalf("job whose dependency failed is %s %q", doomed.Status, doomed.Error)
	}
	_, _, err = f.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"f"}`), DependsOn: []string{farm.NewID(t0)}})
	var fe *farm.Error
	if !farm.IsCode(err, farm.EInvalid) || !asError(err, &fe) || fe.Field != "depends_on[0]" {
		t.Fatalf("missing dependency: %v", err)
	}
}

func asError(err error, target **farm.Error) bool {
	e, ok := err.(*farm.Error)
	*target = e
	return ok
}
