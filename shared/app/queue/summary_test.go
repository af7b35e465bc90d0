package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/queue"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The summary counts each pool's jobs by state and builders by health,
// the slots that can take work, and the oldest wait.
func TestSummaryCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	mem := memstore.New()
	var tx store.Tx
	for i, st := range []farm.JobStatus{farm.StatusQueued, farm.StatusQueued, farm.StatusWaiting, farm.StatusRunning, farm.StatusSucceeded} {
		j := &farm.Job{ID: farm.NewID(t0), Type: farm.TypeScript, Status: st, Pool: "default", CreatedAt: t0.Add(time.Duration(i) * time.Second), Version: 1}
		if st == farm.StatusRunning {
			j.Builder, j.StartedAt, j.LeaseExpiresAt = "busy", farm.TimePtr(t0), farm.TimePtr(t0.Add(time.Hour))
		}
		tx.Jobs = append(tx.Jobs, store.JobWrite{Next: j})
	}
	for _, b := range []*farm.Builder{
		{Name: "idle", Pools: []string{"default"}, Slots: 2, State: farm.BuilderIdle},
		{Name: "busy", Pools: []string{"default", "amd64"}, Slots: 1, State: farm.BuilderBusy, CurrentJobs: []string{"x"}},
		{Name: "lost", Pools: []string{"default"}, Slots: 4, State: farm.BuilderLost},
	} {
		b.Version = 1
		tx.Builders = append(tx.Builders, store.BuilderWrite{Next: b})
	}
	if err := mem.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	q := queue.New(queue.Options{Store: mem, Pools: farm.NewPools([]string{"default", "amd64"}), Clock: func() time.Time { return t0.Add(time.Minute) }})
	sums, err := q.Summary(ctx)
	if err != nil || len(sums) != 2 {
		t.Fatalf("summary %+v %v", sums, err)
	}
	d := sums[0]
	if d.Pool != "default" || d.Queued != 2 || d.Waiting != 1 || d.Running != 1 || d.BuildersIdle != 1 || d.BuildersBusy != 1 || d.BuildersOther != 1 ||
		d.Slots != 3 || d.OldestWaitSeconds != 60 || d.EstimatedStartAt == nil {
		t.Fatalf("default pool %+v", d)
	}
	if a := sums[1]; a.Pool != "amd64" || a.Queued != 0 || a.BuildersBusy != 1 || a.EstimatedStartAt != nil {
		t.Fatalf("amd64 pool %+v", a)
	}
}
