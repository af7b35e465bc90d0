package farmcheck

import (
	"context"
	"fmt"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Submission is one job a workload asked for and what the farm answered
// (after the client's retries).
type Submission struct {
	// Key is the idempotency key it was sent with ("" for none).
	Key string
	// JobID is the accepted job's id; "" when the farm never accepted it.
	JobID string
	// Status is the HTTP status of the final answer (0: no answer).
	Status int
	// Code is the farm's error code of a refused submission.
	Code string
	Err  error
}

// Accepted reports whether the farm accepted the submission (201 or 200).
func (s Submission) Accepted() bool { return s.JobID != "" }

// Snapshot is what the farm shows of a set of jobs: each job and its history.
type Snapshot struct {
	Jobs   map[string]*farm.Job
	Events map[string][]farm.JobEvent
	// All is every job the farm lists, by id (for key checks).
	All map[string]*farm.Job
}

// Take reads every job the farm lists (all pages) and the history of each.
func Take(ctx context.Context, c *client.Client) (*Snapshot, error) {
	s := &Snapshot{Jobs: map[string]*farm.Job{}, Events: map[string][]farm.JobEvent{}, All: map[string]*farm.Job{}}
	cursor := ""
	for {
		page, err := c.ListJobs(ctx, client.ListJobsOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("farmcheck: list jobs: %w", err)
		}
		for _, j := range page.Jobs {
			s.All[j.ID] = j
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	for id := range s.All {
		// Read each job on its own: the listing's copy may be older.
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("farmcheck: job %s: %w", id, err)
		}
		evs, err := c.JobEvents(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("farmcheck: events of %s: %w", id, err)
		}
		s.Jobs[id], s.Events[id] = j, evs
	}
	return s, nil
}

// Submissions checks the answers to submissions the workload knows valid:
// each must be accepted. A refusal after the client's retries — a 409
// conflict, a 500, a 503 that outlasted them — breaks the promise; the
// detail says whether the job exists all the same.
func (s *Snapshot) Submissions(subs []Submission) Violations {
	var out Violations
	for _, sub := range subs {
		if sub.Accepted() {
			continue
		}
		v := Violation{Promise: PromiseAccepted, Key: sub.Key, Detail: fmt.Sprintf("a valid submission was answered %d %s (%v)", sub.Status, sub.Code, sub.Err)}
		for id, j := range s.All {
			if sub.Key != "" && j.IdempotencyKey == sub.Key {
				v.JobID = id
				v.Detail += fmt.Sprintf("; yet its job exists and is %s", s.Jobs[id].Status)
			}
		}
		out = append(out, v)
	}
	return out
}

// JobsEnded checks that every accepted submission's job exists, ended, and
// succeeded (the workload's jobs all succeed when run).
func (s *Snapshot) JobsEnded(subs []Submission) Violations {
	var out Violations
	for _, sub := range subs {
		if !sub.Accepted() {
			continue
		}
		j := s.Jobs[sub.JobID]
		switch {
		case j == nil:
			out = append(out, Violation{Promise: PromiseNotLost, JobID: sub.JobID, Key: sub.Key, Detail: "accepted, but the farm does not list it"})
		case !j.Status.Terminal():
			out = append(out, Violation{Promise: PromiseTerminal, JobID: j.ID, Key: sub.Key, Detail: fmt.Sprintf("still %s (builder %q, attempts %d)", j.Status, j.Builder, j.Attempts)})
		case j.Status != farm.StatusSucceeded:
			out = append(out, Violation{Promise: PromiseSucceeded, JobID: j.ID, Key: sub.Key, Detail: fmt.Sprintf("ended %s: %s", j.Status, j.Error)})
		}
	}
	return out
}

// OnePerKey checks that each idempotency key made exactly one job, and that
// a submission the farm refused made none.
func (s *Snapshot) OnePerKey(subs []Submission) Violations {
	byKey := map[string][]string{}
	for id, j := range s.All {
		if j.IdempotencyKey != "" {
			byKey[j.IdempotencyKey] = append(byKey[j.IdempotencyKey], id)
		}
	}
	var out Violations
	for _, sub := range subs {
		if sub.Key == "" {
			continue
		}
		ids := byKey[sub.Key]
		switch {
		case len(ids) > 1:
			out = append(out, Violation{Promise: PromiseOnePerKey, Key: sub.Key, Detail: fmt.Sprintf("%d jobs: %v", len(ids), ids)})
		case sub.Accepted() && len(ids) == 1 && ids[0] != sub.JobID:
			out = append(out, Violation{Promise: PromiseOnePerKey, Key: sub.Key, Detail: fmt.Sprintf("answered job %s, the key names job %s", sub.JobID, ids[0])})
		}
	}
	return out
}

// Histories checks the history of every job of the snapshot (History).
func (s *Snapshot) Histories() Violations {
	var out Violations
	for id, j := range s.Jobs {
		out = append(out, History(j, s.Events[id])...)
	}
	return out
}

// History checks one job's history against the state machine
// (farm/status.go): the first event is the creation (no from; to queued,
// waiting or failed), each event starts where the previous one ended and is
// an allowed transition, sequence numbers rise and times never go back, and
// the last event's state is the job's status.
func History(j *farm.Job, evs []farm.JobEvent) Violations {
	bad := func(format string, args ...any) Violation {
		return Violation{Promise: PromiseHistory, JobID: j.ID, Detail: fmt.Sprintf(format, args...) + " — " + pathOf(evs)}
	}
	if len(evs) == 0 {
		return Violations{bad("no events (status %s)", j.Status)}
	}
	var out Violations
	first := evs[0]
	if first.From != "" || (first.To != farm.StatusQueued && first.To != farm.StatusWaiting && first.To != farm.StatusFailed) {
		out = append(out, bad("the first event is %s→%s, not the creation", orNone(first.From), first.To))
	}
	for i := 1; i < len(evs); i++ {
		prev, ev := evs[i-1], evs[i]
		switch {
		case ev.From != prev.To:
			out = append(out, bad("event %d starts at %s but the one before ended at %s (an event is missing)", i, orNone(ev.From), prev.To))
		case !farm.CanTransition(ev.From, ev.To):
			out = append(out, bad("event %d: %s→%s is not a transition of the state machine", i, ev.From, ev.To))
		}
		if ev.Seq <= prev.Seq {
			out = append(out, bad("event %d: seq %s after %s", i, ev.Seq, prev.Seq))
		}
		if ev.At.Before(prev.At) {
			out = append(out, bad("event %d at %s, before the one before (%s)", i, ev.At, prev.At))
		}
	}
	if last := evs[len(evs)-1]; last.To != j.Status {
		out = append(out, bad("the last event ends at %s but the job is %s", last.To, j.Status))
	}
	return out
}

func pathOf(evs []farm.JobEvent) string {
	s := ""
	for i, ev := range evs {
		if i == 0 {
			s = orNone(ev.From)
		}
		s += "→" + string(ev.To)
	}
	return "history " + s
}

func orNone(s farm.JobStatus) string {
	if s == "" {
		return "(none)"
	}
	return string(s)
}

// Runs checks what the builders really ran against what the farm recorded.
// runs counts the executions of each job (the workload's scripts count
// themselves). A job may run again only after a recorded requeue of a
// running job (an expired lease, a claim undone): executions ≤ 1 + such
// requeues. And each claim (a →running event) should have been run: a
// claim no builder ran sat until its lease expired.
func (s *Snapshot) Runs(runs map[string]int) Violations {
	var out Violations
	for id, j := range s.Jobs {
		claims, requeues := 0, 0
		for _, ev := range s.Events[id] {
			if ev.To == farm.StatusRunning {
				claims++
			}
			if ev.From.Active() && ev.To == farm.StatusQueued {
				requeues++
			}
		}
		n := runs[id]
		if n > 1+requeues {
			out = append(out, Violation{Promise: PromiseRunOnce, JobID: id,
				Detail: fmt.Sprintf("ran %d times with %d recorded requeues (attempts %d)", n, requeues, j.Attempts)})
		}
		if j.Attempts > n && j.Status == farm.StatusSucceeded {
			out = append(out, Violation{Promise: PromiseClaimRuns, JobID: id,
				Detail: fmt.Sprintf("claimed %d times (attempts; %d →running events) but run %d times: a claim nobody ran waited for its lease", j.Attempts, claims, n)})
		}
	}
	return out
}

// Builders checks that none of the named builders — all alive and healthy
// through the run — ended lost, disabled or blamed for a failure.
func Builders(ctx context.Context, c *client.Client, names []string) (Violations, error) {
	var out Violations
	for _, name := range names {
		b, err := c.GetBuilder(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("farmcheck: builder %s: %w", name, err)
		}
		if b.State == farm.BuilderLost || b.Disabled || b.TotalFailures > 0 {
			out = append(out, Violation{Promise: PromiseBuilders, Builder: name,
				Detail: fmt.Sprintf("state %s, disabled %v, failures %d (%d in a row)", b.State, b.Disabled, b.TotalFailures, b.ConsecutiveFailures)})
		}
	}
	return out, nil
}
