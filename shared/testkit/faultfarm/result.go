package faultfarm

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/farmcheck"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

// Result is what a run under faults came to.
type Result struct {
	Submitted, Accepted, Succeeded int
	// Lost are accepted jobs the farm does not list; Duplicated keys that
	// made more than one job.
	Lost, Duplicated int
	// Answered500 counts API answers of 500 (never allowed); Answered503
	// the 503s (allowed while a dependency is down).
	Answered500, Answered503 int
	Violations               farmcheck.Violations
	Counts                   faultproxy.Counts
	Outages                  []faultproxy.Window
	Answers                  *farmcheck.Answers
	// Span runs from the first job's creation to the last one's end, as
	// the farm recorded them; Throughput is succeeded jobs per second of it.
	Span       time.Duration
	Throughput float64
}

// Check reads the farm through its API (call Calm first: the reads go
// through the farm's own dependencies) and checks every promise of package
// farmcheck for the submissions.
func (f *Farm) Check(ctx context.Context, subs []farmcheck.Submission) (*Result, error) {
	snap, err := farmcheck.Take(ctx, f.Admin)
	if err != nil {
		return nil, err
	}
	runs, err := f.Runs()
	if err != nil {
		return nil, err
	}
	r := &Result{Submitted: len(subs), Counts: f.Proxy.Counts(), Outages: f.Proxy.Outages(), Answers: f.Answers}
	r.Violations = append(r.Violations, snap.Submissions(subs)...)
	r.Violations = append(r.Violations, snap.JobsEnded(subs)...)
	r.Violations = append(r.Violations, snap.OnePerKey(subs)...)
	r.Violations = append(r.Violations, snap.Histories()...)
	r.Violations = append(r.Violations, snap.Runs(runs)...)
	r.Violations = append(r.Violations, f.Answers.Check()...)
	bv, err := farmcheck.Builders(ctx, f.Admin, f.Builders)
	if err != nil {
		return nil, err
	}
	r.Violations = append(r.Violations, bv...)

	var first, last time.Time
	for _, s := range subs {
		if !s.Accepted() {
			continue
		}
		r.Accepted++
		j := snap.Jobs[s.JobID]
		if j == nil {
			r.Lost++
			continue
		}
		if first.IsZero() || j.CreatedAt.Before(first) {
			first = j.CreatedAt
		}
		if j.Status == farm.StatusSucceeded {
			r.Succeeded++
			if j.FinishedAt != nil && j.FinishedAt.After(last) {
				last = *j.FinishedAt
			}
		}
	}
	r.Duplicated = len(r.Violations.Of(farmcheck.PromiseOnePerKey))
	r.Answered500 = f.Answers.Count(http.StatusInternalServerError)
	r.Answered503 = f.Answers.Count(http.StatusServiceUnavailable)
	if !first.IsZero() && last.After(first) {
		r.Span = last.Sub(first)
		r.Throughput = float64(r.Succeeded) / r.Span.Seconds()
	}
	return r, nil
}

// Probe checks that the farm recovered: after Calm, a new job is accepted
// and succeeds within limit.
func (f *Farm) Probe(ctx context.Context, key string, limit time.Duration) farmcheck.Violations {
	start := time.Now()
	sub := f.Submit(ctx, key, 0)
	if !sub.Accepted() {
		return farmcheck.Violations{{Promise: farmcheck.PromiseRecovers, Key: key, Detail: fmt.Sprintf("a submission after the faults was answered %d %s: %v", sub.Status, sub.Code, sub.Err)}}
	}
	if left := f.WaitEnded(ctx, []farmcheck.Submission{sub}, limit-time.Since(start)); len(left) > 0 {
		return farmcheck.Violations{{Promise: farmcheck.PromiseRecovers, JobID: sub.JobID, Detail: fmt.Sprintf("a job submitted after the faults did not end within %v", limit)}}
	}
	j, err := f.Admin.GetJob(ctx, sub.JobID)
	if err != nil || j.Status != farm.StatusSucceeded {
		return farmcheck.Violations{{Promise: farmcheck.PromiseRecovers, JobID: sub.JobID, Detail: fmt.Sprintf("a job submitted after the faults: %v %v", j, err)}}
	}
	return nil
}

// Write prints the result: jobs, API answers, injected faults, violations.
func (r *Result) Write(w io.Writer) {
	fmt.Fprintf(w, "jobs: %d submitted, %d accepted, %d succeeded, %d lost, %d duplicated keys\n",
		r.Submitted, r.Accepted, r.Succeeded, r.Lost, r.Duplicated)
	fmt.Fprintf(w, "API answers: %d × 500, %d × 503\n", r.Answered500, r.Answered503)
	if r.Span > 0 {
		fmt.Fprintf(w, "throughput: %.2f jobs/s (%d jobs from the first creation to the last end, %v)\n", r.Throughput, r.Succeeded, r.Span.Round(time.Millisecond))
	}
	for _, o := range r.Outages {
		fmt.Fprintf(w, "outage: %s for %v %v\n", o.Mode, o.End.Sub(o.Start).Round(time.Millisecond), o.Services)
	}
	fmt.Fprintln(w, "\nAPI answers by route:")
	r.Answers.Write(w)
	fmt.Fprintln(w, "\nerror answers:")
	r.Answers.WriteRefusals(w)
	fmt.Fprintln(w, "\ninjected by the proxy:")
	r.Counts.Write(w)
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "\nevery promise held")
		return
	}
	fmt.Fprintf(w, "\n%d broken promises:\n", len(r.Violations))
	r.Violations.Write(w, 8)
}
