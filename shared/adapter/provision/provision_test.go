package provision_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestApplyIsIdempotentAndMatchesTheTopology(t *testing.T) {
	t.Parallel()
	top, cfg, res := emulatortest.Topology(t, "default", "arm64")
	ctx := context.Background()
	// A second run changes nothing and fails on nothing.
	again, err := provision.Apply(ctx, cfg, top)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if again.JobsStreamARN == "" || again.JobsStreamARN != res.JobsStreamARN {
		t.Fatalf("stream ARN changed or missing: %q vs %q", again.JobsStreamARN, res.JobsStreamARN)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	desc, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(top.Jobs.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(desc.Table.GlobalSecondaryIndexes), len(dynamostore.JobIndexes()); got != want {
		t.Fatalf("jobs table has %d indexes, the schema says %d", got, want)
	}
	ttl, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(top.Idempotency.Name)})
	if err != nil {
		t.Fatal(err)
	}
	idem, _ := dynamostore.Schema(top, top.Idempotency)
	if idem.TTLAttribute == "" || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != idem.TTLAttribute {
		t.Fatalf("idempotency TTL attribute = %v", ttl.TimeToLiveDescription.AttributeName)
	}
	sq := sqs.NewFromConfig(cfg)
	for _, q := range top.Queues() {
		url := res.QueueURLs[q.Name]
		if url == "" || res.QueueURLs[q.DLQName] == "" {
			t.Fatalf("queue %s or its DLQ missing", q.Name)
		}
		attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
		if err != nil {
			t.Fatal(err)
		}
		if attrs.Attributes["RedrivePolicy"] == "" {
			t.Fatalf("queue %s has no redrive policy", q.Name)
		}
	}
}
