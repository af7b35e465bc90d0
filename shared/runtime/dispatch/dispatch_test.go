package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func loadStreamEvent(t *testing.T) events.DynamoDBEvent {
	t.Helper()
	raw, err := os.ReadFile("../../../events/dynamodb-stream-jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// countingStore counts the reads of jobs the dispatcher's work makes.
type countingStore struct {
	*memstore.Store
	reads int
}

func (c *countingStore) GetJob(ctx context.Context, id string) (*farm.Job, error) {
	c.reads++
	return c.Store.GetJob(ctx, id)
}

// The dispatcher works from the record's image and never rings: a queued
// job's record (an API that died before ringing: the reaper's stale-queue
// sweep covers it) rings nothing and reads nothing; the end of a job with a
// dependent releases it, reading only the dependent's side.
func TestTheDispatcherWorksFromTheImageAndNeverRings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New()
	quiet := slog.New(slog.DiscardHandler)
	api := wiring.NewServices(wiring.Deps{Store: mem, Pools: storetest.Pools, Logger: quiet})
	submit := func(deps ...string) *farm.Job {
		t.Helper()
		j, _, err := api.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true"}`), DependsOn: deps})
		if err != nil {
			t.Fatal(err)
		}
		got, err := mem.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	parent := submit()
	child := submit(parent.ID)
	parent, err := mem.GetJob(ctx, parent.ID) // flagged by its dependent
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingStore{Store: mem}
	bell := &storetest.Bell{}
	d := &dispatch.Dispatcher{Work: wiring.NewServices(wiring.Deps{Store: counted, Doorbell: bell, Pools: storetest.Pools, Logger: quiet}).FollowUp, Logger: quiet}
	apply := func(old, next *farm.Job) {
		t.Helper()
		rec, err := dynamostore.JobStreamRecord("1", old, next)
		if err != nil {
			t.Fatal(err)
		}
		if failed := d.Apply(ctx, dynamostore.JobChangesFromRecords([]events.DynamoDBEventRecord{rec})); len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
	}
	apply(nil, parent)
	if len(bell.Rings) != 0 || counted.reads != 0 {
		t.Fatalf("a queued job's record rang %d times and read %d jobs", len(bell.Rings), counted.reads)
	}
	if !parent.HasDependents {
		t.Fatal("a job depended on is not flagged")
	}
	// The parent succeeds (written by an API that died right after).
	done := parent.Touched()
	done.Status, done.Result, done.FinishedAt = farm.StatusSucceeded, "succeeded", farm.TimePtr(parent.CreatedAt)
	if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: parent, Next: done}}}); err != nil {
		t.Fatal(err)
	}
	apply(parent, done)
	if got, _ := mem.GetJob(ctx, child.ID); got.Status != farm.StatusQueued {
		t.Fatalf("dependent is %s after its dependency's end was dispatched", got.Status)
	}
	// Reads: the dependent and its one dependency, not the parent's record.
	if counted.reads != 2 {
		t.Fatalf("%d job reads, want 2 (the dependent and its dependency)", counted.reads)
	}
	// The released dependent is rung for by the follow-up work that queued it.
	if bell.Count(child.ID) != 1 || len(bell.Rings) != 1 {
		t.Fatalf("rings %+v", bell.Rings)
	}
}

type failingWork struct{}

func (failingWork) FollowUpChange(context.Context, *farm.Job) error { return errors.New("sqs down") }

func TestFailuresAreReportedPerRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &dispatch.Dispatcher{Work: failingWork{}, Logger: slog.New(slog.DiscardHandler)}
	resp, err := d.HandleLambda(ctx, loadStreamEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	// The heartbeat record (222) is skipped, not failed.
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != "111" || resp.BatchItemFailures[1].ItemIdentifier != "333" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
}
