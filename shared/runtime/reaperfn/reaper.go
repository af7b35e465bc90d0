// Package reaper runs the scheduler's reaper on a schedule and on lease
// timers, and publishes the queue metrics the alarms watch. The reaper Lambda
// is invoked by an EventBridge schedule and by the lease-timer SQS queue; the
// local runtime calls Tick on a ticker.
package reaperfn

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/adapter/emf"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
)

// Reaping is the reaper's rules (app/reaper.Service).
type Reaping interface {
	Reap(ctx context.Context) (*reaper.Report, error)
	ReapJob(ctx context.Context, id string) error
}

// Reaper runs reaper passes.
type Reaper struct {
	Rules Reaping
	// Metrics receives EMF records (stdout in Lambda); nil publishes none.
	Metrics io.Writer
	Logger  *slog.Logger
	Clock   func() time.Time
}

// Tick runs one pass and publishes per-pool queue metrics.
func (r *Reaper) Tick(ctx context.Context) (*reaper.Report, error) {
	rep, err := r.Rules.Reap(ctx)
	if err != nil && ctx.Err() == nil {
		r.Logger.ErrorContext(ctx, "reaper pass had errors; the next pass retries", "err", err)
	}
	if rep == nil {
		return nil, err
	}
	if rep.LeasesExpired+rep.TimedOut+rep.BuildersLost+rep.ResourcesExpired > 0 || len(rep.PoolsRung) > 0 {
		r.Logger.InfoContext(ctx, "reaper pass", "leases_expired", rep.LeasesExpired, "timed_out", rep.TimedOut, "builders_lost", rep.BuildersLost,
			"builders_disabled", rep.BuildersDisabled, "pools_rung", rep.PoolsRung, "resources_expired", rep.ResourcesExpired)
	}
	if r.Metrics != nil {
		now := time.Now()
		if r.Clock != nil {
			now = r.Clock()
		}
		for _, p := range rep.Pools {
			if werr := emf.Write(r.Metrics, now, map[string]string{"Pool": p.Pool},
				emf.Metric{Name: "OldestQueuedJobAgeSeconds", Unit: "Seconds", Value: p.OldestAgeSeconds},
				emf.Metric{Name: "QueuedJobs", Unit: "Count", Value: float64(p.Queued)}); werr != nil {
				r.Logger.WarnContext(ctx, "metrics not written", "err", werr)
			}
		}
	}
	return rep, err
}

// HandleLeaseChecks handles a batch of lease timer messages.
func (r *Reaper) HandleLeaseChecks(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range ev.Records {
		check, err := sqsdoorbell.ParseLeaseCheck(m.Body)
		if err != nil {
			r.Logger.WarnContext(ctx, "lease timer message ignored", "message_id", m.MessageId, "err", err)
			continue
		}
		if err := r.Rules.ReapJob(ctx, check.JobID); err != nil {
			r.Logger.ErrorContext(ctx, "lease check failed; it will be retried", "job_id", check.JobID, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp
}

// HandleLambda serves both triggers of the reaper Lambda: an SQS batch of
// lease timers, or anything else (the EventBridge schedule) as a full pass.
func (r *Reaper) HandleLambda(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs" {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return r.HandleLeaseChecks(ctx, ev), nil
	}
	rep, err := r.Tick(ctx)
	return rep, err
}
