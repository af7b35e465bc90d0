package localfarm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// startFarm runs the local runtime as wiring assembles it for scripts/up.
func startFarm(t *testing.T) (*wiring.Local, *topology.Topology) {
	t.Helper()
	top, cfg, _ := emulatortest.Topology(t)
	lf, err := wiring.StartLocal(context.Background(), wiring.LocalConfig{
		Addr:           "127.0.0.1:0",
		AWS:            &cfg,
		Farm:           wiring.Config{Topology: top, Policy: farm.Policy{Heartbeat: time.Second}},
		ReaperInterval: 200 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lf.Stop)
	return lf, top
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A job whose writer died before ringing its doorbell is dispatched anyway:
// the jobs stream carries its insert to the dispatcher, which rings.
func TestStreamDispatchesAJobNobodyRangFor(t *testing.T) {
	t.Parallel()
	lf, _ := startFarm(t)
	ctx := context.Background()
	time.Sleep(500 * time.Millisecond) // the stream poller starts at the stream's end
	id := farm.NewID(time.Now())
	job := &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "arm64", Payload: json.RawMessage(`{"script":"true","pool":"arm64"}`),
		MaxAttempts: 3, TimeoutSeconds: 60, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), QueuedAt: farm.TimePtr(time.Now()), Version: 1}
	// Written straight to the store, as by an API that died right after.
	if err := lf.Store.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: job}}}); err != nil {
		t.Fatal(err)
	}
	url, _ := lf.Bell.QueueURL("arm64")
	rx := sqsdoorbell.NewReceiver(lf.SQS)
	var got []sqsdoorbell.Message
	eventually(t, "the doorbell of the unrung job", func() bool {
		msgs, err := rx.Receive(ctx, url, time.Second, 10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
		return len(got) > 0
	})
	if got[0].JobID != id || got[0].Pool != "arm64" {
		t.Fatalf("doorbell %+v", got[0])
	}
}

// An upload under incoming/<type>/ becomes one job, even when its
// notification is delivered twice.
func TestUploadBecomesExactlyOneJob(t *testing.T) {
	t.Parallel()
	lf, top := startFarm(t)
	ctx := context.Background()
	key := "incoming/script/hello world.sh"
	_, err := lf.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(top.Bucket.Name), Key: aws.String(key), Body: strings.NewReader("echo hello\n")})
	if err != nil {
		t.Fatal(err)
	}
	var job *farm.Job
	eventually(t, "the ingested job", func() bool {
		page, err := lf.Store.ListJobs(ctx, store.JobFilter{Type: farm.TypeScript})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Jobs) > 0 {
			job = page.Jobs[0]
		}
		return job != nil
	})
	if !strings.Contains(string(job.Payload), "s3://"+top.Bucket.Name+"/"+key) || job.Status != farm.StatusQueued {
		t.Fatalf("job %+v payload %s", job, job.Payload)
	}
	// Deliver the same notification again (same object, same sequencer).
	seq := job.IdempotencyKey[strings.LastIndex(job.IdempotencyKey, "#")+1:]
	body := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q,"sequencer":%q}}}]}`,
		top.Bucket.Name, strings.ReplaceAll(key, " ", "+"), seq)
	ingestURL, err := lf.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(top.IngestQueue.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lf.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: ingestURL.QueueUrl, MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	// Wait until the queue is drained, then count.
	eventually(t, "the duplicate to be handled", func() bool {
		attrs, err := lf.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: ingestURL.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		return attrs.Attributes["ApproximateNumberOfMessages"] == "0" && attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	})
	page, err := lf.Store.ListJobs(ctx, store.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 {
		t.Fatalf("%d jobs after a duplicate notification, want 1", len(page.Jobs))
	}
}
