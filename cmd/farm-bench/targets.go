package main

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// Target is one goal a run is held to.
type Target struct {
	Name string `json:"name"`
	// Op is "<=" or ">="; Target the bound; Value what the run measured.
	Op     string  `json:"op"`
	Target float64 `json:"target"`
	Value  float64 `json:"value"`
	Met    bool    `json:"met"`
}

// targets are issue 12's (docs/bench.md): on the headline figures.
var targets = []struct {
	name  string
	op    string
	bound float64
	value func(*Report) float64
}{
	{"calls_per_job", "<=", 7, func(r *Report) float64 { return r.CallsPerJob }},
	{"usd_per_million_jobs", "<=", 10, func(r *Report) float64 { return r.USDPerMillionJobs }},
	{"throughput_ratio_like_for_like", ">=", 0.6, func(r *Report) float64 { return r.ThroughputRatioLikeForLike }},
	{"latency_ratio_p50_like_for_like", "<=", 1.5, func(r *Report) float64 { return r.LatencyRatioP50LikeForLike }},
}

func checkTargets(r *Report) []Target {
	out := make([]Target, 0, len(targets))
	for _, t := range targets {
		v := t.value(r)
		met := v <= t.bound
		if t.op == ">=" {
			met = v >= t.bound
		}
		out = append(out, Target{Name: t.name, Op: t.op, Target: t.bound, Value: v, Met: met})
	}
	return out
}

// GitState is the measured checkout's commit.
type GitState struct {
	Commit string `json:"commit"`
	// Dirty: tracked files differed from the commit (untracked ones aside).
	Dirty bool `json:"dirty"`
}

// gitState reads repo's HEAD and whether its tracked files have changes;
// "unknown" when git cannot tell.
func gitState(repo string) GitState {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil {
		return GitState{Commit: "unknown"}
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	return GitState{Commit: head, Dirty: err != nil || status != ""}
}
