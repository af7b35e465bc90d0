package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

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

type deadBell struct{}

func (deadBell) Ring(context.Context, string, string, time.Duration) error {
	return errors.New("the process died before it could ring")
}

// A job written by an API that died before ringing is still dispatched: the
// stream record of its insert rings the doorbell.
func TestStreamRingsForAJobWhoseSubmitterNeverRang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	quiet := slog.New(slog.DiscardHandler)
	api := wiring.NewServices(wiring.Deps{Store: store, Doorbell: deadBell{}, Pools: storetest.Pools, Logger: quiet})
	job, _, err := api.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true"}`)})
	if err != nil {
		t.Fatal(err)
	}
	bell := &storetest.Bell{}
	d := &dispatch.Dispatcher{Jobs: store, Work: wiring.NewServices(wiring.Deps{Store: store, Doorbell: bell, Pools: storetest.Pools, Logger: quiet}).FollowUp, Logger: quiet}
	ev := loadStreamEvent(t)
	ev.Records = ev.Records[:1]
	ev.Records[0].Change.Keys["id"] = events.NewStringAttribute(job.ID)
	resp, err := d.HandleLambda(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	if bell.Count(job.ID) != 1 {
		t.Fatalf("rang %d times, want 1", bell.Count(job.ID))
	}
	// Once claimed, a replay of the same record rings nothing.
	if _, err := api.Builders.Register(ctx, storetest.Admin, "b", farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Claims.Claim(ctx, storetest.Admin, "b", "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.HandleLambda(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if bell.Count(job.ID) != 1 {
		t.Fatalf("a replay rang for a running job")
	}
}

type failingWork struct{}

func (failingWork) FollowUp(context.Context, *farm.Job) error { return errors.New("sqs down") }

func TestFailuresAreReportedPerRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New()
	for _, id := range []string{"01KAWZ6F0000000000000000Q1", "01KAWZ6F0000000000000000S3"} {
		j := &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: json.RawMessage(`{}`), Version: 1}
		if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: j}}}); err != nil {
			t.Fatal(err)
		}
	}
	d := &dispatch.Dispatcher{Jobs: mem, Work: failingWork{}, Logger: slog.New(slog.DiscardHandler)}
	resp, err := d.HandleLambda(ctx, loadStreamEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	// The heartbeat record (222) is skipped, not failed.
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != "111" || resp.BatchItemFailures[1].ItemIdentifier != "333" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
}
