package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// writeJob is the detail view of one job.
func writeJob(w io.Writer, j *farm.Job, now time.Time) {
	score := strconv.FormatInt(j.Score, 10)
	if j.ScorePinned {
		score += " (pinned)"
	}
	var exitCode string
	if j.ExitCode != nil {
		exitCode = strconv.Itoa(*j.ExitCode)
	}
	artifacts := make([]string, len(j.Artifacts))
	for i, a := range j.Artifacts {
		artifacts[i] = a.Name
	}
	var estimated, position string
	if j.EstimatedStartAt != nil {
		estimated = fmtTime(j.EstimatedStartAt) + " (" + fmtUntil(j.EstimatedStartAt, now) + ")"
	}
	if j.QueuePosition != nil {
		position = strconv.Itoa(*j.QueuePosition)
	}
	var timeout string
	if j.TimeoutSeconds > 0 {
		timeout = fmtDuration(time.Duration(j.TimeoutSeconds) * time.Second)
	}
	fields(w, []field{
		{"id", j.ID},
		{"type", j.Type},
		{"status", string(j.Status)},
		{"pool", j.Pool},
		{"score", score},
		{"priority", strconv.FormatInt(j.Priority, 10)},
		{"requested_by", j.RequestedBy},
		{"created_at", fmtTime(&j.CreatedAt)},
		{"queued_at", fmtTime(j.QueuedAt)},
		{"queue_position", position},
		{"estimated_start_at", estimated},
		{"not_before", fmtTime(j.NotBefore)},
		{"started_at", fmtTime(j.StartedAt)},
		{"time_to_start", fmtSeconds(j.TimeToStartSeconds)},
		{"finished_at", fmtTime(j.FinishedAt)},
		{"duration", fmtSeconds(j.DurationSeconds)},
		{"attempts", fmt.Sprintf("%d of %d", j.Attempts, j.MaxAttempts)},
		{"timeout", timeout},
		{"builder", j.Builder},
		{"lease_expires_at", fmtTime(j.LeaseExpiresAt)},
		{"progress", j.Progress},
		{"cancel_requested", yes(j.CancelRequested)},
		{"result", j.Result},
		{"exit_code", exitCode},
		{"error", j.Error},
		{"builder_failures", nonZero(j.BuilderFailures)},
		{"depends_on", strings.Join(j.DependsOn, ",")},
		{"parent_id", j.ParentID},
		{"idempotency_key", j.IdempotencyKey},
		{"artifacts", strings.Join(artifacts, ",")},
		{"payload", compactJSON(j.Payload)},
	})
}

// jobHeader and jobRow are the jobs list table.
func jobHeader(w io.Writer) {
	row(w, "ID", "TYPE", "STATUS", "POOL", "SCORE", "ATTEMPTS", "BUILDER", "CREATED", "DURATION")
}

func jobRow(w io.Writer, j *farm.Job) {
	row(w, j.ID, j.Type, string(j.Status), j.Pool, strconv.FormatInt(j.Score, 10),
		fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts), j.Builder, fmtTime(&j.CreatedAt), fmtSeconds(j.DurationSeconds))
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}
