package agent_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

// TestDoorbellThroughTheEmulator wakes the agent with a real SQS doorbell on
// the emulator: the agent long-polls the queue the (fake) farm registered it
// with, claims through the API and deletes the doorbell.
func TestDoorbellThroughTheEmulator(t *testing.T) {
	t.Parallel()
	top, awsCfg, _ := emulatortest.Topology(t, "default")
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	awsCfg.HTTPClient = &http.Client{Transport: transport}
	ctx := context.Background()
	sqsAPI := sqs.NewFromConfig(awsCfg)
	bell, err := sqsdoorbell.Resolve(ctx, sqsAPI, top)
	if err != nil {
		t.Fatal(err)
	}
	queueURL, _ := bell.QueueURL("default")

	f := newFakeFarm(t)
	f.queueURLs["default"] = queueURL
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour // only the doorbell can bring the job
	start(t, f, sqsdoorbell.NewReceiver(sqsAPI), cfg)
	f.waitFor("the start sweep", func() bool { return f.claims >= 1 })

	job := f.script("default", `echo built by a doorbell`, nil)
	if err := bell.Ring(ctx, "default", job.ID, 0); err != nil {
		t.Fatal(err)
	}
	if c := f.awaitCompletion(job.ID); c.Req.Result != "succeeded" {
		t.Fatalf("completion %+v", c.Req)
	}
	// The doorbell was deleted, not merely hidden by its visibility timeout.
	deadline := time.Now().Add(hangGuard)
	for {
		out, err := sqsAPI.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: &queueURL,
			AttributeNames: []types.QueueAttributeName{
				types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		visible := out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)]
		hidden := out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]
		if visible == "0" && hidden == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("doorbell still on the queue: %s visible, %s in flight", visible, hidden)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
