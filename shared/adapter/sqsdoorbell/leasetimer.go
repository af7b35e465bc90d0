package sqsdoorbell

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// LeaseCheckKind is the kind of a lease timer message.
const LeaseCheckKind = "lease-check"

// LeaseCheck asks the reaper to look at one job's lease.
type LeaseCheck struct {
	Kind  string `json:"kind"`
	JobID string `json:"job_id"`
}

// LeaseTimer arms per-job lease timers as delayed SQS messages (at most 15
// minutes ahead; a timer due later fires early and is armed again).
type LeaseTimer struct {
	api API
	url string
	now func() time.Time
}

// NewLeaseTimer returns a LeaseTimer on the queue at url.
func NewLeaseTimer(api API, url string) *LeaseTimer {
	return &LeaseTimer{api: api, url: url, now: time.Now}
}

// Arm sends a lease check for jobID due at at.
func (t *LeaseTimer) Arm(ctx context.Context, jobID string, at time.Time) error {
	body, err := json.Marshal(LeaseCheck{Kind: LeaseCheckKind, JobID: jobID})
	if err != nil {
		return err
	}
	_, err = t.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     &t.url,
		MessageBody:  aws.String(string(body)),
		DelaySeconds: delaySeconds(at.Sub(t.now())),
	})
	if err != nil {
		return fmt.Errorf("sqsdoorbell: arm lease timer: %w", err)
	}
	return nil
}

// ParseLeaseCheck decodes a lease timer message body.
func ParseLeaseCheck(body string) (LeaseCheck, error) {
	var c LeaseCheck
	if err := json.Unmarshal([]byte(body), &c); err != nil || c.Kind != LeaseCheckKind || c.JobID == "" {
		return LeaseCheck{}, fmt.Errorf("not a lease check: %q", body)
	}
	return c, nil
}
