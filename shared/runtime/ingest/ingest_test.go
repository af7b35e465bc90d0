package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/ingest"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestUploadsBecomeOneJobEachAndUnknownTypesFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile("../../../events/sqs-s3-incoming.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	mem := memstore.New()
	quiet := slog.New(slog.DiscardHandler)
	h := &ingest.Handler{Jobs: wiring.NewServices(wiring.Deps{Store: mem, Pools: storetest.Pools, Logger: quiet, Sources: sources}).Jobs, IncomingPrefix: "incoming/", Logger: quiet}
	for delivery := 1; delivery <= 2; delivery++ { // S3 and SQS may deliver twice
		resp, err := h.HandleLambda(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-unknown" {
			t.Fatalf("delivery %d: failures %+v, want only m-unknown", delivery, resp.BatchItemFailures)
		}
		page, err := mem.ListJobs(ctx, store.JobFilter{})
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
	h := &ingest.Handler{Jobs: wiring.NewServices(wiring.Deps{Store: memstore.New(), Pools: storetest.Pools, Logger: quiet, Sources: sources}).Jobs, IncomingPrefix: "incoming/", Logger: quiet}
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

// sources is the farm's bucket of the events/ fixtures.
var sources = farm.SourcePolicy{Bucket: "buildfarm-artifacts", Prefix: "incoming/"}

// S3 keys run to 1024 bytes; every legal one becomes one job, once.
func TestLongKeysIngestOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New()
	quiet := slog.New(slog.DiscardHandler)
	h := &ingest.Handler{Jobs: wiring.NewServices(wiring.Deps{Store: mem, Pools: storetest.Pools, Logger: quiet, Sources: sources}).Jobs, IncomingPrefix: "incoming/", Logger: quiet}
	prefix := "incoming/script/"
	key := prefix + strings.Repeat("k", 1024-len(prefix)-3) + ".sh"
	other := prefix + strings.Repeat("k", 1024-len(prefix)-3) + ".sx" // differs at the very end
	record := func(id, key, version string) events.SQSMessage {
		body := `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"buildfarm-artifacts"},"object":{"key":"` + key + `","versionId":"` + version + `","sequencer":"0A1B"}}}]}`
		return events.SQSMessage{MessageId: id, Body: body}
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{record("a", key, "v1"), record("b", key, "v1"), record("c", other, "v1"), record("d", key, "v2")}}
	for delivery := 1; delivery <= 2; delivery++ {
		resp, err := h.HandleLambda(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("delivery %d: %v, failures %+v", delivery, err, resp.BatchItemFailures)
		}
	}
	page, err := mem.ListJobs(ctx, store.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 3 { // key v1, other v1, key v2
		t.Fatalf("%d jobs, want one per object version (3)", len(page.Jobs))
	}
	seen := map[string]bool{}
	for _, j := range page.Jobs {
		var p farm.ScriptArgs
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			t.Fatal(err)
		}
		seen[p.Source.Source+"#"+p.Source.SourceVersion] = true
		if len(j.IdempotencyKey) > admission.MaxIdempotencyKeyLen {
			t.Fatalf("idempotency key of %d characters", len(j.IdempotencyKey))
		}
	}
	for _, want := range []string{"s3://buildfarm-artifacts/" + key + "#v1", "s3://buildfarm-artifacts/" + other + "#v1", "s3://buildfarm-artifacts/" + key + "#v2"} {
		if !seen[want] {
			t.Fatalf("no job for %.60q...", want)
		}
	}
}
