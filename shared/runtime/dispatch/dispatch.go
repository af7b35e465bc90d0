// Package dispatch reacts to changes of the jobs table, as delivered by its
// DynamoDB stream: a job that became queued gets its doorbell rung (so a job
// is dispatched even when the API died between writing it and ringing), a
// job that finished releases or fails the jobs waiting on it and creates its
// follow-on jobs. The stream is only a trigger: the handler re-reads each job
// and acts on its current state, so replays and duplicates are harmless.
package dispatch

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// FollowUp does the follow-up work of a job's current state (app/followup.Service).
type FollowUp interface {
	FollowUp(ctx context.Context, job *farm.Job) error
}

// JobReader reads a job's current state.
type JobReader interface {
	GetJob(ctx context.Context, id string) (*farm.Job, error)
}

// Dispatcher applies changes.
type Dispatcher struct {
	Jobs   JobReader
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
		job, err := d.Jobs.GetJob(ctx, c.JobID)
		if farm.IsCode(err, farm.ENotFound) {
			continue
		}
		if err == nil {
			err = d.Work.FollowUp(ctx, job)
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
