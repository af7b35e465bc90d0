// Package dispatch reacts to changes of the jobs table, as delivered by its
// DynamoDB stream through an event source mapping whose filter
// (dynamostore.DispatchFilter) passes only what it has business with: a job
// that ended with jobs waiting on it releases or fails them, a job that
// succeeded creates its follow-on jobs, a clean-resource job moves the
// resource it cleans. It works from the record's new image (no read-back of
// the job) and never rings a doorbell: whoever writes a job queued rings,
// and the reaper's stale-queue sweep covers one that died first. Every step
// checks the state it changes, so replays and duplicates are harmless.
package dispatch

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// FollowUp does the follow-up work of a job as a change left it
// (app/followup.Service.FollowUpChange).
type FollowUp interface {
	FollowUpChange(ctx context.Context, job *farm.Job) error
}

// Dispatcher applies changes.
type Dispatcher struct {
	Work   FollowUp
	Logger *slog.Logger
}

// Apply handles changes in order and returns the ids of those that failed,
// to be delivered again.
func (d *Dispatcher) Apply(ctx context.Context, changes []store.JobChange) []string {
	var failed []string
	for _, c := range changes {
		if !c.Relevant() {
			continue
		}
		err := c.Err
		if err == nil && c.Job == nil {
			continue // nothing to work from (a partial record)
		}
		if err == nil {
			err = d.Work.FollowUpChange(ctx, c.Job)
		}
		if err != nil {
			d.Logger.ErrorContext(ctx, "dispatch failed; the record will be delivered again", "job_id", c.JobID, "status", c.NewStatus, "record", c.ID, "err", err)
			failed = append(failed, c.ID)
			continue
		}
		d.Logger.DebugContext(ctx, "dispatched", "job_id", c.JobID, "from", c.OldStatus, "to", c.NewStatus)
	}
	return failed
}

// HandleLambda is the dispatch Lambda's handler: partial batch failures name
// the records to retry.
func (d *Dispatcher) HandleLambda(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for _, id := range d.Apply(ctx, dynamostore.JobChangesFromLambda(ev)) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}
