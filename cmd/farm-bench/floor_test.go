package main

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// opsOf lists a floor's counted calls, one entry per call, empty long polls
// left out.
func opsOf(calls awscalls.Calls) []string {
	var ops []string
	for _, e := range calls {
		if e.Phase == phaseIdlePoll {
			continue
		}
		for range e.Calls {
			ops = append(ops, e.Service+"."+e.Operation)
		}
	}
	slices.Sort(ops)
	return ops
}

// The like-for-like floor makes exactly the calls a correct farm must per
// job — one write at submit, a doorbell send, a receive by a waiting long
// poll, an index Query, a conditional claim, a message delete, a fenced
// completion — counted as the farm's are (the receivers' SQS calls by the
// counting proxy the agents go through).
func TestFloorCallsPerJob(t *testing.T) {
	t.Parallel()
	emu := emulatortest.Emulator(t)
	cfg := emulatortest.Config(t)
	for _, tc := range []struct {
		kind floorKind
		want []string
	}{
		{floorLikeForLike, likeForLikeCalls},
		{floorMinimal, []string{"DynamoDB.PutItem", "SQS.SendMessage", "SQS.ReceiveMessage", "DynamoDB.UpdateItem", "SQS.DeleteMessage", "DynamoDB.UpdateItem"}},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			f, err := startFloor(ctx, cfg, emu.URL, tc.kind, "test", 1, true, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer f.stop()
			before := f.snapshot()
			d, err := f.latencySample(ctx)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-f.done:
			case <-ctx.Done():
				t.Fatal("the job was not completed")
			}
			// The delete is answered before the completion is sent.
			got := opsOf(f.snapshot().Sub(before))
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("calls for one job:\n got %v\nwant %v", got, want)
			}
			if f.failed.Load() != 0 {
				t.Errorf("%d calls failed", f.failed.Load())
			}
			t.Logf("%s floor: submit -> claim %v, %d calls", tc.kind, d, len(got))
		})
	}
}

// Workers racing for the same best jobs leave none behind: every job is
// claimed once and completed.
func TestLikeForLikeFloorUnderContention(t *testing.T) {
	t.Parallel()
	emu := emulatortest.Emulator(t)
	cfg := emulatortest.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const jobs = 24
	f, err := startFloor(ctx, cfg, emu.URL, floorLikeForLike, "race", 4, true, jobs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	before := f.snapshot()
	if _, err := f.throughput(ctx, jobs, 2); err != nil {
		t.Fatal(err)
	}
	calls := f.snapshot().Sub(before)
	count := func(op string) int64 {
		return calls.Total(func(k awscalls.Key) bool { return k.Service+"."+k.Operation == op && k.Phase != phaseIdlePoll }).Calls
	}
	if n := count("DynamoDB.PutItem"); n != jobs {
		t.Errorf("%d submissions, want %d", n, jobs)
	}
	// Each job: one winning claim and one completion; lost races add claims.
	if n := count("DynamoDB.UpdateItem"); n < 2*jobs {
		t.Errorf("%d updates for %d claims and completions", n, 2*jobs)
	}
	if f.failed.Load() != 0 {
		t.Errorf("%d calls failed", f.failed.Load())
	}
	t.Logf("%d jobs: %d queries, %d updates, %d receives", jobs, count("DynamoDB.Query"), count("DynamoDB.UpdateItem"), count("SQS.ReceiveMessage"))
}
