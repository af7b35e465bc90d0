// Package scalerfn is the scaler Lambda's handler: it ticks the elastic
// pools (app/scaler) on its two triggers, the EventBridge schedule and
// bursts of queued jobs on the jobs table's stream.
package scalerfn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"

	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/scaler"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// BurstFilter is the event source mapping's filter on the jobs stream: only
// records of jobs that are queued wake the scaler (submissions, releases of
// waiting jobs, hand-backs and requeues), never heartbeats. With a batching
// window the scaler is invoked once per window however large the burst,
// and the API's submit path makes no extra AWS call.
var BurstFilter = dynamostore.QueuedJobsFilter

// Handler serves the scaler function.
type Handler struct {
	Scaler *scaler.Scaler
	Logger *slog.Logger
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// HandleLambda serves the scaler function's two triggers: a batch of
// jobs-stream records (a burst: tick the pools they name, skipping a pool
// that ticked within MinInterval) or anything else (the schedule: tick
// every pool). Stream batches never fail: the records are only a hint, and
// the schedule ticks again within a minute.
func (h *Handler) HandleLambda(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:dynamodb" {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			h.log().WarnContext(ctx, "scaler: stream batch not understood; the schedule ticks soon", "err", err)
			return nil, nil
		}
		reps, err := h.Burst(ctx, ev)
		if err != nil {
			h.log().WarnContext(ctx, "scaler burst tick had errors; the schedule ticks soon", "err", err)
		}
		return summary(reps), nil
	}
	reps, err := h.Scaler.Tick(ctx, scaler.TriggerSchedule)
	return summary(reps), err
}

// Burst ticks the elastic pools named by queued jobs in a stream batch.
func (h *Handler) Burst(ctx context.Context, ev events.DynamoDBEvent) ([]*scaler.PoolReport, error) {
	var pools []string
	for _, c := range dynamostore.JobChangesFromLambda(ev) {
		if c.NewStatus == farm.StatusQueued && c.Pool != "" && !slices.Contains(pools, c.Pool) {
			pools = append(pools, c.Pool)
		}
	}
	var reps []*scaler.PoolReport
	var errs []error
	for _, p := range pools {
		if _, ok := h.Scaler.Fleet.Pool(p); !ok {
			continue // a pool without a fleet (bare metal only)
		}
		rep, err := h.Scaler.TickPool(ctx, p, scaler.TriggerBurst)
		if rep != nil {
			reps = append(reps, rep)
		}
		errs = append(errs, err)
	}
	return reps, errors.Join(errs...)
}

// summary is the function's answer: per pool, desired capacity or why skipped.
func summary(reps []*scaler.PoolReport) map[string]any {
	out := map[string]any{}
	for _, r := range reps {
		if r.Skipped != "" {
			out[r.Pool] = map[string]any{"skipped": r.Skipped}
			continue
		}
		out[r.Pool] = map[string]any{"desired": r.Desired, "need": r.Need, "removed": len(r.Removed), "drained": len(r.Drained), "undrained": len(r.Undrained), "errors": r.Errors}
	}
	return out
}
