package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// TestARestartedAgentGetsItsJobBackAtOnce: an agent SIGKILLed mid-job and
// started again under the same name registers with a new boot id, and the
// farm requeues the job it held right then — long before the job's lease
// (a minute here) could expire — and the job runs again and succeeds.
func TestARestartedAgentGetsItsJobBackAtOnce(t *testing.T) {
	const longLease = time.Minute
	f := startFarmWith(t, farm.Policy{Heartbeat: heartbeat, Lease: longLease, RequeueBackoff: backoff, BuilderMaxFailures: 100})
	ctx := context.Background()
	first := f.startBuilder(t, "phoenix", 1, "default")
	j, _, err := f.admin.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"sleep 3; echo done"}`)}, "")
	if err != nil {
		t.Fatal(err)
	}
	var held *farm.Job
	eventually(t, 60*time.Second, "the job to run on phoenix", func() bool {
		held, err = f.admin.GetJob(ctx, j.ID)
		return err == nil && held.Status == farm.StatusRunning && held.Builder == "phoenix"
	})
	killedAt := time.Now()
	first.signal(syscall.SIGKILL)
	_ = first.cmd.Wait()
	restartedAt := time.Now()
	f.startBuilder(t, "phoenix", 1, "default")

	var requeue *farm.JobEvent
	eventually(t, longLease/2, "the restart to requeue the job", func() bool {
		evs, err := f.admin.JobEvents(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.From == farm.StatusRunning && ev.To == farm.StatusQueued {
				requeue = &ev
				return true
			}
		}
		return false
	})
	t.Logf("requeued %.2fs after the SIGKILL, %.2fs after the new agent started (heartbeat %s, lease %s): %q",
		requeue.At.Sub(killedAt).Seconds(), requeue.At.Sub(restartedAt).Seconds(), heartbeat, longLease, requeue.Detail)
	if !strings.Contains(requeue.Detail, "restarted") || requeue.Actor != "builder:phoenix" {
		t.Errorf("requeued by %s (%q), not by the restart", requeue.Actor, requeue.Detail)
	}
	if held.LeaseExpiresAt == nil || !requeue.At.Before(*held.LeaseExpiresAt) {
		t.Errorf("requeued at %s, not before the lease that was live at the kill (%v) expired", requeue.At, held.LeaseExpiresAt)
	}

	var done *farm.Job
	eventually(t, 60*time.Second, "the job to run again and end", func() bool {
		done, err = f.admin.GetJob(ctx, j.ID)
		return err == nil && done.Status.Terminal()
	})
	if done.Status != farm.StatusSucceeded || done.Attempts != 2 || done.Builder != "phoenix" {
		t.Errorf("job ended %s after %d attempts on %q", done.Status, done.Attempts, done.Builder)
	}
	evs, err := f.admin.JobEvents(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, done, evs)
}
