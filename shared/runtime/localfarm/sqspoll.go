package localfarm

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// sqsPoller does locally what an SQS event source mapping does in AWS:
// long-poll a queue, hand batches to a Lambda handler, delete the messages
// the handler did not report as failed. Failed ones reappear after their
// visibility timeout and, after the queue's maxReceiveCount, go to its DLQ.
type sqsPoller struct {
	api     *sqs.Client
	url     string
	arn     string
	handler func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse
	log     *slog.Logger
}

func (p *sqsPoller) run(ctx context.Context) {
	for ctx.Err() == nil {
		out, err := p.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &p.url,
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             20,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() == nil {
				p.log.WarnContext(ctx, "poll failed", "queue", p.url, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId:      aws.ToString(m.MessageId),
				ReceiptHandle:  aws.ToString(m.ReceiptHandle),
				Body:           aws.ToString(m.Body),
				Attributes:     m.Attributes,
				EventSource:    "aws:sqs",
				EventSourceARN: p.arn,
			})
		}
		resp := p.handler(ctx, ev)
		failed := make([]string, 0, len(resp.BatchItemFailures))
		for _, f := range resp.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		for _, m := range out.Messages {
			if slices.Contains(failed, aws.ToString(m.MessageId)) {
				continue
			}
			if _, err := p.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &p.url, ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
				p.log.WarnContext(ctx, "delete failed; the message will be handled again", "queue", p.url, "err", err)
			}
		}
		if n := len(failed); n > 0 {
			p.log.WarnContext(ctx, "messages left for redelivery", "queue", p.url, "count", strconv.Itoa(n))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
