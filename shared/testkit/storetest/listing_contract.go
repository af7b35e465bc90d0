package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunListingContract checks the listings the web page and the queue
// summary read: jobs by who asked for them, and recent times to start.
func RunListingContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("ListJobsByRequester", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(9)
		var alice, aliceFailed []string
		for i, id := range ids {
			j := rawJob(id, farm.StatusQueued, "default", 1)
			j.RequestedBy = "submitter:bob"
			if i%3 != 0 {
				j.RequestedBy = "submitter:alice"
				if i%2 == 0 {
					j.Status = farm.StatusFailed
				}
			}
			create(t, s, j)
		}
		for i := len(ids) - 1; i >= 0; i-- {
			if i%3 != 0 {
				alice = append(alice, ids[i])
				if i%2 == 0 {
					aliceFailed = append(aliceFailed, ids[i])
				}
			}
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, err := s.ListJobs(ctx, store.JobFilter{RequestedBy: "submitter:alice", Limit: 4, Cursor: cursor})
			must(t, err)
			got = append(got, jobIDs(page.Jobs)...)
			if page.NextCursor == "" {
				break
			}
			if pages > 10 {
				t.Fatal("cursor never ends")
			}
			cursor = page.NextCursor
		}
		if !reflect.DeepEqual(got, alice) {
			t.Fatalf("alice's jobs %v, want %v", got, alice)
		}
		for _, f := range []store.JobFilter{
			{RequestedBy: "submitter:alice", Status: farm.StatusFailed},
			{RequestedBy: "submitter:alice", Status: farm.StatusFailed, Pool: "default", Type: farm.TypeScript},
		} {
			page, err := s.ListJobs(ctx, f)
			must(t, err)
			if !reflect.DeepEqual(jobIDs(page.Jobs), aliceFailed) {
				t.Fatalf("%+v: %v, want %v", f, jobIDs(page.Jobs), aliceFailed)
			}
		}
		page, err := s.ListJobs(ctx, store.JobFilter{RequestedBy: "submitter:nobody"})
		must(t, err)
		if len(page.Jobs) != 0 || page.NextCursor != "" {
			t.Fatalf("nobody's jobs: %v", jobIDs(page.Jobs))
		}
	})

	t.Run("RecentStartsNewestFirstWithinTheWindow", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(7)
		// Job i started i minutes after t0, having waited i+0.5 seconds;
		// job 5 is in another pool, job 6 never started.
		for i, id := range ids {
			j := rawJob(id, farm.StatusSucceeded, "default", 1)
			if i == 5 {
				j.Pool = "arm64"
			}
			if i < 6 {
				wait := float64(i) + 0.5
				j.StartedAt, j.TimeToStartSeconds = farm.TimePtr(t0.Add(time.Duration(i)*time.Minute)), &wait
			}
			create(t, s, j)
		}
		got, err := s.RecentStarts(ctx, "default", t0.Add(time.Minute), 100)
		must(t, err)
		if want := []float64{4.5, 3.5, 2.5, 1.5}; !reflect.DeepEqual(got, want) {
			t.Fatalf("starts since t0+1m: %v, want %v", got, want)
		}
		got, err = s.RecentStarts(ctx, "default", t0, 2)
		must(t, err)
		if want := []float64{4.5, 3.5}; !reflect.DeepEqual(got, want) {
			t.Fatalf("latest two: %v, want %v", got, want)
		}
		got, err = s.RecentStarts(ctx, "arm64", t0, 10)
		must(t, err)
		if want := []float64{5.5}; !reflect.DeepEqual(got, want) {
			t.Fatalf("arm64: %v, want %v", got, want)
		}
		got, err = s.RecentStarts(ctx, "default", t0.Add(time.Hour), 10)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("nothing started in that window, got %v", got)
		}

		// A retried job leaves the index until it starts again.
		j, err := s.GetJob(ctx, ids[4])
		must(t, err)
		next := j.Clone()
		next.Status, next.StartedAt, next.TimeToStartSeconds, next.Version = farm.StatusQueued, nil, nil, j.Version+1
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: next}}}))
		got, err = s.RecentStarts(ctx, "default", t0.Add(time.Minute), 100)
		must(t, err)
		if want := []float64{3.5, 2.5, 1.5}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after the retry: %v, want %v", got, want)
		}
	})

	t.Run("ListJobsByStatusReadsEveryJobOfThatStatus", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(12)
		statuses := []farm.JobStatus{farm.StatusRunning, farm.StatusWaiting, farm.StatusCancelling, farm.StatusQueued, farm.StatusSucceeded, farm.StatusFailed}
		want := map[farm.JobStatus][]string{}
		var runningDefault []string
		for i, id := range ids {
			st, pool := statuses[i%len(statuses)], "default"
			if i%4 == 0 {
				pool = "arm64"
			}
			j := rawJob(id, st, pool, 1)
			if st.Active() {
				j.Builder, j.ClaimToken, j.StartedAt, j.LeaseExpiresAt = "b", "tok-"+id, farm.TimePtr(t0), farm.TimePtr(t0.Add(time.Duration(i)*time.Minute)) // the lease index orders them oldest first
			}
			create(t, s, j)
		}
		for i := len(ids) - 1; i >= 0; i-- {
			st := statuses[i%len(statuses)]
			want[st] = append(want[st], ids[i])
			if st == farm.StatusRunning && i%4 != 0 {
				runningDefault = append(runningDefault, ids[i])
			}
		}
		all := func(f store.JobFilter) []string {
			var got []string
			for pages := 0; ; pages++ {
				page, err := s.ListJobs(ctx, f)
				must(t, err)
				got = append(got, jobIDs(page.Jobs)...)
				if page.NextCursor == "" {
					return got
				}
				if pages > 20 {
					t.Fatalf("%+v: cursor never ends", f)
				}
				f.Cursor = page.NextCursor
			}
		}
		for _, st := range statuses {
			if got := all(store.JobFilter{Status: st, Limit: 1}); !reflect.DeepEqual(got, want[st]) {
				t.Errorf("status %s: %v, want %v newest first", st, got, want[st])
			}
		}
		if got := all(store.JobFilter{Status: farm.StatusRunning, Pool: "default", Limit: 1, Scan: 2}); !reflect.DeepEqual(got, runningDefault) {
			t.Errorf("running on default: %v, want %v", got, runningDefault)
		}
	})
}
