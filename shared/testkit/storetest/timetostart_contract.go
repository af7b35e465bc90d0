package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/queue"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// RunTimeToStartContract checks what the farm tells about waiting: each
// claim records the job's time to start and run number (published as an
// EMF metric), the queue summary's last-hour percentiles, and each queued
// job's position.
func RunTimeToStartContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	cfg := farm.Policy{Heartbeat: 10 * time.Second}

	t.Run("ClaimsRecordTimeToStartRunsAndMetrics", func(t *testing.T) {
		t.Parallel()
		var metrics bytes.Buffer
		e := NewEnvWith(t, newStore, wiring.Deps{Policy: cfg, Metrics: &metrics})
		e.Builder(t, "b1", 4)
		first := e.ScriptJob(t, "default", 0)
		e.Clock.Advance(3 * time.Second)
		claimed := e.claim(t)
		if claimed.ID != first.ID || claimed.Run != 1 || claimed.Attempts != 1 || claimed.TimeToStartSeconds == nil || *claimed.TimeToStartSeconds != 3 {
			t.Fatalf("claimed %+v, want run 1 after 3s", claimed)
		}
		var rec map[string]any
		must(t, json.Unmarshal(metrics.Bytes(), &rec))
		if rec["Pool"] != "default" || rec[claims.MetricTimeToStart] != 3.0 || !strings.Contains(metrics.String(), `"Unit":"Seconds"`) {
			t.Fatalf("EMF record %s", metrics.String())
		}

		// A retry resets attempts but not the run number; artifacts of both runs are kept.
		_, err := e.Claims.Record(ctx, "b1", first.ID, farm.Completion{ClaimToken: claimed.ClaimToken, Result: farm.StatusFailed,
			Artifacts: []farm.Artifact{{Name: "out.txt", Key: "artifacts/x/1/out.txt", Size: 1, SHA256: "aa"}}})
		must(t, err)
		retried, err := e.Jobs.Retry(ctx, Admin, first.ID)
		must(t, err)
		if retried.Attempts != 0 || retried.Run != 1 || retried.TimeToStartSeconds != nil {
			t.Fatalf("retried %+v", retried)
		}
		e.Clock.Advance(2 * time.Second)
		again := e.claim(t)
		if again.Run != 2 || again.Attempts != 1 || *again.TimeToStartSeconds != 2 {
			t.Fatalf("second run %+v", again)
		}
		done, err := e.Claims.Record(ctx, "b1", first.ID, farm.Completion{ClaimToken: again.ClaimToken, Result: farm.StatusSucceeded,
			Artifacts: []farm.Artifact{{Name: "out.txt", Key: "artifacts/x/2/out.txt", Size: 2, SHA256: "bb"}}})
		must(t, err)
		if len(done.Artifacts) != 2 || done.Artifacts[0].Attempt != 1 || done.Artifacts[1].Attempt != 2 {
			t.Fatalf("artifacts %+v", done.Artifacts)
		}
		if a, ok := done.LatestArtifact("out.txt", 0); !ok || a.SHA256 != "bb" {
			t.Fatalf("latest out.txt %+v", a)
		}
		if a, ok := done.LatestArtifact("out.txt", 1); !ok || a.SHA256 != "aa" {
			t.Fatalf("out.txt of run 1 %+v", a)
		}

		// Three more jobs waiting 1, 5 and 9 s: starts {2 (the retried job's last), 1, 5, 9}.
		for _, wait := range []time.Duration{1, 5, 9} {
			e.ScriptJob(t, "default", 0)
			e.Clock.Advance(wait * time.Second)
			e.claim(t)
		}
		if n := strings.Count(metrics.String(), "\n"); n != 5 {
			t.Fatalf("%d EMF records for 5 claims", n)
		}
		p50, p90, started := summary(t, e, "default")
		if started != 4 || p50 == nil || *p50 != 2 || p90 == nil || *p90 != 9 {
			t.Fatalf("p50 %v p90 %v over %d, want 2 and 9 over 4", deref(p50), deref(p90), started)
		}
		e.Clock.Advance(queue.TimeToStartWindow + time.Second)
		if p50, p90, started := summary(t, e, "default"); started != 0 || p50 != nil || p90 != nil {
			t.Fatalf("an hour later: p50 %v p90 %v over %d, want none", deref(p50), deref(p90), started)
		}
	})

	t.Run("QueuedJobsKnowTheirPosition", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		low := e.ScriptJob(t, "default", 1)
		high := e.ScriptJob(t, "default", 5)
		// Ids made in one millisecond need not sort as made: low2 comes later.
		e.Clock.Advance(time.Millisecond)
		low2 := e.ScriptJob(t, "default", 1)
		other := e.ScriptJob(t, "arm64", 0)
		jobs := []*farm.Job{low, high, low2, other}
		must(t, e.Queue.EstimateStarts(ctx, jobs))
		for j, want := range map[*farm.Job]int{high: 1, low: 2, low2: 3, other: 1} {
			if j.QueuePosition == nil || *j.QueuePosition != want {
				t.Errorf("job of priority %d in %s: position %v, want %d", j.Priority, j.Pool, j.QueuePosition, want)
			}
		}
	})
}

// claim claims the best default-pool job for b1 and fails without one.
func (e *Env) claim(t *testing.T) *farm.Job {
	t.Helper()
	j, err := e.Claim(context.Background(), "b1", "default")
	must(t, err)
	if j == nil {
		t.Fatal("nothing to claim")
	}
	return j
}

func summary(t *testing.T, e *Env, pool string) (p50, p90 *float64, started int) {
	t.Helper()
	sums, err := e.Queue.Summary(context.Background())
	must(t, err)
	for _, s := range sums {
		if s.Pool == pool {
			return s.TimeToStartP50, s.TimeToStartP90, s.Started
		}
	}
	t.Fatalf("no summary of pool %s", pool)
	return nil, nil, 0
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
