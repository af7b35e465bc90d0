package stack

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// dlqRetention is how long a dead letter waits for an operator (the SQS maximum).
const dlqRetentionDays = 14

// queues declares every topology queue with its DLQ, plus the on-failure
// destination of the jobs stream. All are SSE-SQS encrypted (S3 event
// notifications cannot publish to a queue encrypted with the aws/sqs KMS key)
// and refuse non-TLS requests.
func (f *Farm) queues() {
	f.Queues = map[string]awssqs.Queue{}
	f.DLQs = map[string]awssqs.Queue{}
	for _, q := range f.Topology.Queues() {
		dlq := awssqs.NewQueue(f.Stack, jsii.String(q.ID+"DLQ"), &awssqs.QueueProps{
			QueueName:       jsii.String(q.DLQName),
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionDays)),
		})
		main := awssqs.NewQueue(f.Stack, jsii.String(q.ID), &awssqs.QueueProps{
			QueueName:         jsii.String(q.Name),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(float64(q.VisibilityTimeoutSeconds))),
			RetentionPeriod:   awscdk.Duration_Seconds(jsii.Number(float64(q.RetentionSeconds))),
			DeadLetterQueue: &awssqs.DeadLetterQueue{
				Queue:           dlq,
				MaxReceiveCount: jsii.Number(float64(q.MaxReceiveCount)),
			},
		})
		f.Queues[q.ID] = main
		f.DLQs[q.ID] = dlq
	}
	// Not part of the topology: the local runtime's dispatcher has no stream
	// retry limit. A name is generated so the topology's names stay the only fixed ones.
	f.DispatchFailures = awssqs.NewQueue(f.Stack, jsii.String("DispatchFailuresDLQ"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionDays)),
	})
}

// poolQueues returns the doorbell queues of pools (all pools when nil).
func (f *Farm) poolQueues(pools []string) []awssqs.Queue {
	var out []awssqs.Queue
	for _, q := range f.Topology.PoolQueues {
		if pools == nil || slices.Contains(pools, q.Pool) {
			out = append(out, f.Queues[q.ID])
		}
	}
	return out
}
