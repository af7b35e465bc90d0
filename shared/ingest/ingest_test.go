package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/ingest"
	"github.com/buildfarm/buildfarm/shared/memstore"
	"github.com/buildfarm/buildfarm/shared/scheduler"
	"github.com/buildfarm/buildfarm/shared/storetest"
)

func TestUploadsBecomeOneJobEachAndUnknownTypesFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile("../../events/sqs-s3-incoming.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	quiet := slog.New(slog.DiscardHandler)
	h := &ingest.Handler{Jobs: scheduler.New(scheduler.Options{Store: store, Pools: storetest.Pools, Logger: quiet}), IncomingPrefix: "incoming/", Logger: quiet}
	for delivery := 1; delivery <= 2; delivery++ { // S3 and SQS may deliver twice
		resp, err := h.HandleLambda(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-unknown" {
			t.Fatalf("delivery %d: failures %+v, want only m-unknown", delivery, resp.BatchItemFailures)
		}
		page, err := store.ListJobs(ctx, scheduler.JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Jobs) != 1 {
			t.Fatalf("delivery %d: %d jobs, want 1", delivery, len(page.Jobs))
		}
		j := page.Jobs[0]
		var p farm.ScriptArgs
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			t.Fatal(err)
		}
		// The key arrives URL-encoded ('+' is a space).
		if j.Type != farm.TypeScript || p.Source.Source != "s3://buildfarm-artifacts/incoming/script/hello world.sh" || j.RequestedBy != "s3:buildfarm-artifacts" || j.Pool != "default" {
			t.Fatalf("job %+v payload %s", j, j.Payload)
		}
	}
}

func TestGarbageMessagesFail(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.DiscardHandler)
	h := &ingest.Handler{Jobs: scheduler.New(scheduler.Options{Store: memstore.New(), Pools: storetest.Pools, Logger: quiet}), IncomingPrefix: "incoming/", Logger: quiet}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "a", Body: "not json"},
		{MessageId: "b", Body: `{"Records":[]}`},
		{MessageId: "c", Body: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"elsewhere/x"}}}]}`},
		{MessageId: "d", Body: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"incoming/script/dir/"}}}]}`},
		{MessageId: "e", Body: `{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"incoming/script/x"}}}]}`},
		{MessageId: "f", Body: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"incoming/clean-resource/x"}}}]}`},
	}}
	resp, err := h.HandleLambda(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	// d (folder marker) and e (removal) are ignored; internal types are not ingestible.
	if want := "[a b c f]"; fmt.Sprint(failed) != want {
		t.Fatalf("failed %v, want %s", failed, want)
	}
}
