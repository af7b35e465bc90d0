package faultfarm_test

import (
	"context"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

// Only the writer of a queued job rings its doorbell (the stream dispatcher
// does not). When the submit's ring never gets out — every attempt of the
// SendMessage refused, as if the API died between its write and its ring —
// the reaper's stale-queue sweep rings once the job has waited
// StaleQueueAge (2 × heartbeat), at its next pass: the job is claimed
// within StaleQueueAge + one reaper interval, plus the builder's receive
// and claim (docs/reliability.md).
func TestASubmitWhoseRingIsLostIsClaimedByTheStaleQueueSweep(t *testing.T) {
	f := startFarm(t)
	ctx := context.Background()
	const staleQueueAge, reaperInterval = 2 * heartbeat, 500 * time.Millisecond
	spec := faultproxy.Spec{Rules: []faultproxy.Rule{{
		Service: faultproxy.ServiceSQS, Operation: "SendMessage", Fault: faultproxy.FaultError, Rate: 1, Times: awsconf.MaxAttempts,
	}}}
	if err := f.Proxy.SetSpec(spec); err != nil {
		t.Fatal(err)
	}
	sub := f.Submit(ctx, "", 0)
	if sub.Err != nil {
		t.Fatal(sub.Err)
	}
	if n := f.Proxy.Counts().Total().Errors; n != awsconf.MaxAttempts {
		t.Fatalf("%d SendMessage refused, want %d: the submit's ring got out", n, awsconf.MaxAttempts)
	}
	bound := staleQueueAge + reaperInterval + heartbeat // + the builder's receive and claim
	deadline := time.Now().Add(2 * bound)
	for {
		j, err := f.Admin.GetJob(ctx, sub.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if j.StartedAt != nil {
			waited := j.StartedAt.Sub(j.CreatedAt)
			t.Logf("claimed %v after submit (bound %v)", waited.Round(time.Millisecond), bound)
			if waited < staleQueueAge {
				t.Fatalf("claimed after %v, before the sweep could ring: something else rang", waited)
			}
			if waited > bound {
				t.Fatalf("claimed after %v, over the bound %v", waited, bound)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s %v after submit", j.ID, j.Status, 2*bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
