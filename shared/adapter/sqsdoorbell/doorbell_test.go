package sqsdoorbell_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestRingReceiveDeleteAndDeadLetter(t *testing.T) {
	t.Parallel()
	top, cfg, res := emulatortest.Topology(t, "default", "arm64")
	ctx := context.Background()
	api := sqs.NewFromConfig(cfg)
	bell, err := sqsdoorbell.Resolve(ctx, api, top)
	if err != nil {
		t.Fatal(err)
	}
	if err := bell.Ring(ctx, "nope", "x", 0); !farm.IsCode(err, farm.EInvalid) {
		t.Fatalf("ring of an unserved pool: %v, want invalid", err)
	}
	// Two rings for one job: duplicates are harmless, each is one message.
	for range 2 {
		if err := bell.Ring(ctx, "arm64", "01JOB", 0); err != nil {
			t.Fatal(err)
		}
	}
	url, _ := bell.QueueURL("arm64")
	rx := sqsdoorbell.NewReceiver(api)
	got, err := rx.Receive(ctx, url, time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].JobID != "01JOB" || got[0].Pool != "arm64" || got[0].Kind != "job-ready" || got[0].Malformed {
		t.Fatalf("received %+v", got)
	}
	for _, m := range got {
		if err := rx.Delete(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing on the other pool's queue.
	other, _ := bell.QueueURL("default")
	if got, _ := rx.Receive(ctx, other, 0, 10); len(got) != 0 {
		t.Fatalf("default pool got %d messages", len(got))
	}

	// A message nobody deletes is redelivered until maxReceiveCount, then lands in the DLQ.
	if _, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("not json")}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"VisibilityTimeout": "0"}}); err != nil {
		t.Fatal(err)
	}
	q, _ := top.PoolQueue("arm64")
	for i := 0; i < q.MaxReceiveCount; i++ {
		msgs, err := rx.Receive(ctx, url, time.Second, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || !msgs[0].Malformed || msgs[0].Receives != i+1 {
			t.Fatalf("receive %d: %+v", i+1, msgs)
		}
	}
	if msgs, _ := rx.Receive(ctx, url, 0, 1); len(msgs) != 0 {
		t.Fatalf("message still on the queue after %d receives", q.MaxReceiveCount)
	}
	dead, err := rx.Receive(ctx, res.QueueURLs[q.DLQName], time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 {
		t.Fatalf("DLQ holds %d messages, want 1", len(dead))
	}
}

func TestDelaysRoundUpToWholeSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int32{-time.Second: 0, 0: 0, time.Millisecond: 1, 999 * time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Hour: 900} {
		if got := sqsdoorbell.DelaySeconds(d); got != want {
			t.Errorf("delay %v -> %d s, want %d", d, got, want)
		}
	}
}

// A released doorbell is visible again at once (its queue's visibility
// timeout is 30 s).
func TestReleasedDoorbellComesBackAtOnce(t *testing.T) {
	t.Parallel()
	top, cfg, _ := emulatortest.Topology(t, "default")
	ctx := context.Background()
	api := sqs.NewFromConfig(cfg)
	bell, err := sqsdoorbell.Resolve(ctx, api, top)
	if err != nil {
		t.Fatal(err)
	}
	if err := bell.Ring(ctx, "default", "01JOB", 0); err != nil {
		t.Fatal(err)
	}
	url, _ := bell.QueueURL("default")
	rx := sqsdoorbell.NewReceiver(api)
	first, err := rx.Receive(ctx, url, time.Second, 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("receive: %v %v", first, err)
	}
	if err := rx.Release(ctx, first[0]); err != nil {
		t.Fatal(err)
	}
	again, err := rx.Receive(ctx, url, time.Second, 1)
	if err != nil || len(again) != 1 || again[0].JobID != "01JOB" || again[0].Receives != 2 {
		t.Fatalf("after release: %+v %v", again, err)
	}
}
