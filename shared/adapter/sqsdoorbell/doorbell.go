// Package sqsdoorbell rings and answers the farm's doorbells: one SQS queue
// per builder pool, carrying typed job-ready messages. A doorbell is a hint
// that wakes builders; it is safe to duplicate or lose, because a builder
// always claims the best queued job from the store, never "the job in the
// message".
package sqsdoorbell

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// API is the part of the SQS client the doorbells use.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Bell rings pools' doorbells.
type Bell struct {
	api  API
	urls map[string]string // pool -> queue URL
}

// New returns a Bell for known queue URLs (pool -> URL).
func New(api API, urls map[string]string) *Bell {
	return &Bell{api: api, urls: urls}
}

// Resolve looks up the queue URL of every pool of top.
func Resolve(ctx context.Context, api API, top *topology.Topology) (*Bell, error) {
	urls := map[string]string{}
	for _, q := range top.PoolQueues {
		out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name)})
		if err != nil {
			return nil, fmt.Errorf("sqsdoorbell: queue of pool %s: %w", q.Pool, err)
		}
		urls[q.Pool] = aws.ToString(out.QueueUrl)
	}
	return New(api, urls), nil
}

// QueueURL returns the doorbell queue of pool.
func (b *Bell) QueueURL(pool string) (string, bool) {
	u, ok := b.urls[pool]
	return u, ok
}

// QueueURLs returns the queue of each of pools that the farm serves.
func (b *Bell) QueueURLs(pools []string) map[string]string {
	out := make(map[string]string, len(pools))
	for _, p := range pools {
		if u, ok := b.urls[p]; ok {
			out[p] = u
		}
	}
	return out
}

// Pools lists the pools with a doorbell queue, sorted.
func (b *Bell) Pools() []string {
	out := make([]string, 0, len(b.urls))
	for p := range b.urls {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Ring tells the builders of pool that jobID is ready, after delay (0: now).
// SQS delays in whole seconds up to 15 minutes: a delay is rounded up, so a
// doorbell never rings before a held-back job is claimable (a builder woken
// too early would find nothing and go back to sleep).
func (b *Bell) Ring(ctx context.Context, pool, jobID string, delay time.Duration) error {
	url, ok := b.urls[pool]
	if !ok {
		return farm.Errorf(farm.EInvalid, "no builder pool %q is served by this farm", pool)
	}
	body, err := json.Marshal(apiv1.Doorbell{Kind: apiv1.DoorbellKind, Pool: pool, JobID: jobID})
	if err != nil {
		return err
	}
	_, err = b.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     &url,
		MessageBody:  aws.String(string(body)),
		DelaySeconds: delaySeconds(delay),
	})
	if err != nil {
		return fmt.Errorf("sqsdoorbell: ring %s: %w", pool, err)
	}
	return nil
}

// Message is one received doorbell.
type Message struct {
	apiv1.Doorbell
	QueueURL      string
	ReceiptHandle string
	// Receives is how often SQS delivered this message (1 the first time).
	Receives int
	// Malformed is set when the body was not a doorbell; it still wakes the
	// builder, and is deleted like any other.
	Malformed bool
}

// Receiver long-polls doorbell queues (builders use it with their own credentials).
type Receiver struct {
	api API
}

// NewReceiver returns a Receiver.
func NewReceiver(api API) *Receiver { return &Receiver{api: api} }

// Receive waits up to wait (at most 20 s, SQS's long-poll limit) for up to
// limit (1-10) doorbells on queueURL.
func (r *Receiver) Receive(ctx context.Context, queueURL string, wait time.Duration, limit int) ([]Message, error) {
	out, err := r.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &queueURL,
		MaxNumberOfMessages:         int32(min(max(limit, 1), 10)),
		WaitTimeSeconds:             int32(min(max(wait/time.Second, 0), 20)),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("sqsdoorbell: receive: %w", err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{QueueURL: queueURL, ReceiptHandle: aws.ToString(m.ReceiptHandle)}
		fmt.Sscan(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)], &msg.Receives)
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg.Doorbell); err != nil || msg.Kind != apiv1.DoorbellKind {
			msg.Malformed = true
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Release puts a doorbell this builder cannot answer (no free slot) back on
// the queue at once, for a builder that can.
func (r *Receiver) Release(ctx context.Context, m Message) error {
	_, err := r.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &m.QueueURL, ReceiptHandle: &m.ReceiptHandle, VisibilityTimeout: 0})
	if err != nil {
		return fmt.Errorf("sqsdoorbell: release: %w", err)
	}
	return nil
}

// Delete removes a handled doorbell.
func (r *Receiver) Delete(ctx context.Context, m Message) error {
	_, err := r.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &m.QueueURL, ReceiptHandle: &m.ReceiptHandle})
	if err != nil {
		return fmt.Errorf("sqsdoorbell: delete: %w", err)
	}
	return nil
}

// delaySeconds rounds a delay up to SQS's whole seconds, within 0-900.
func delaySeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32(min((d+time.Second-1)/time.Second, 900))
}
