package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

const priorityDefinition = "2 builders × 1 slot are kept busy by 2 sleeping jobs while no-op jobs of mixed " +
	"priorities are submitted; then they drain the queue. A claim took the highest-scored waiting job when no " +
	"job ranked above the one it took (higher score, or same score and older) was certainly waiting all " +
	"through the claim: its submit call had returned before the claim request arrived, and no claim touched it " +
	"before this claim was answered. fraction = claims that took the best job / claims judged"

// PriorityResult is the priority-order figure.
type PriorityResult struct {
	Definition string `json:"definition"`
	Jobs       int    `json:"jobs"`
	// Claims judged (the mixed jobs' claims); WithChoice those that had more
	// than one job certainly waiting.
	Claims     int `json:"claims"`
	WithChoice int `json:"claims_with_choice"`
	Violations int `json:"violations"`
	// FractionHighestFirst should be 1.0.
	FractionHighestFirst float64  `json:"fraction_highest_first"`
	Examples             []string `json:"violation_examples,omitempty"`
}

// queued is a job the priority scenario submitted.
type queued struct {
	id       string
	score    int64
	returned time.Time
}

// better reports whether a ranks before b in the dispatch order: higher
// score first, then older (ULIDs sort by time).
func better(a, b queued) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.id < b.id
}

// judgeClaims applies the definition: for each claim of one of jobs, is
// there a job ranked above the one it took that was certainly waiting all
// through the claim?
func judgeClaims(jobs []queued, claims []claimObs) PriorityResult {
	byID := map[string]queued{}
	for _, j := range jobs {
		byID[j.id] = j
	}
	// The first successful claim of each job.
	first := map[string]claimObs{}
	for _, c := range claims {
		if c.Status != 200 || c.JobID == "" {
			continue
		}
		if prev, ok := first[c.JobID]; !ok || c.End.Before(prev.End) {
			first[c.JobID] = c
		}
	}
	var res PriorityResult
	for _, c := range claims {
		took, ok := byID[c.JobID]
		if c.Status != 200 || !ok || first[c.JobID] != c {
			continue
		}
		res.Claims++
		waiting := 0
		violated := ""
		for _, j := range jobs {
			// Certainly visible before the claim began...
			if !j.returned.Before(c.Start) {
				continue
			}
			// ...and untouched by any claim until this one was answered.
			if jc, claimed := first[j.id]; claimed && !jc.Start.After(c.End) && j.id != took.id {
				continue
			}
			waiting++
			if better(j, took) && violated == "" {
				violated = fmt.Sprintf("claim by %s took %s (score %d) while %s (score %d) waited", c.Builder, took.id, took.score, j.id, j.score)
			}
		}
		if waiting > 1 {
			res.WithChoice++
		}
		if violated != "" {
			res.Violations++
			if len(res.Examples) < 5 {
				res.Examples = append(res.Examples, violated)
			}
		}
	}
	if res.Claims > 0 {
		res.FractionHighestFirst = round(float64(res.Claims-res.Violations)/float64(res.Claims), 4)
	}
	return res
}

func (r *rig) priority(ctx context.Context, p plan) (*PriorityResult, error) {
	fr, err := r.startFarm(ctx, "priority", farm.Policy{})
	if err != nil {
		return nil, err
	}
	defer fr.stop()
	if err := fr.startAgents(ctx, 2, 1); err != nil {
		return nil, err
	}
	// Saturate both builders.
	block := apiv1.SubmitJobRequest{Type: "script", Payload: json.RawMessage(fmt.Sprintf(`{"script":"sleep %d"}`, int(p.priorityBlock.Seconds())))}
	var blockers []string
	for range 2 {
		job, _, err := fr.submit.SubmitJob(ctx, block, "")
		if err != nil {
			return nil, err
		}
		blockers = append(blockers, job.ID)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = fr.obs.waitUntil(wctx, func(o *observer) bool {
		_, a := o.claimed[blockers[0]]
		_, b := o.claimed[blockers[1]]
		return a && b
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("priority: blockers not claimed: %w", err)
	}
	// Mixed priorities, from a fixed seed: the same sequence every run.
	rng := rand.New(rand.NewPCG(7, 7))
	var jobs []queued
	ids := map[string]bool{}
	for range p.priorityJobs {
		prio := int64(rng.IntN(5)*25 - 50) // -50, -25, 0, 25, 50: ties happen
		req := noopJob()
		req.Priority = &prio
		job, _, err := fr.submit.SubmitJob(ctx, req, "")
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, queued{id: job.ID, score: job.Score, returned: time.Now()})
		ids[job.ID] = true
	}
	wctx, cancel = context.WithTimeout(ctx, p.throughputTimeout)
	err = fr.obs.waitUntil(wctx, func(o *observer) bool { return o.completedCount(ids) == len(ids) })
	cancel()
	if err != nil {
		return nil, fmt.Errorf("priority: jobs not completed: %w", err)
	}
	res := judgeClaims(jobs, fr.obs.claimList())
	res.Definition, res.Jobs = priorityDefinition, len(jobs)
	return &res, nil
}
