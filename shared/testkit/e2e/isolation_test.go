package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/proctest"
)

// On a real agent, a job whose processes escape with setsid, nohup and
// double forks loses every one of them when it ends by itself, when it is
// cancelled through the API, and when it times out; and a 200 KiB script
// (past the kernel's 128 KiB bound on one argument) runs.
func TestJobsDieWholeAndLargeScriptsRun(t *testing.T) {
	t.Parallel()
	f := startFarm(t)
	ctx := context.Background()
	f.startBuilder(t, "jailer", 4, "default")
	gates := proctest.SharedDir(t)
	submit := func(script string, env map[string]string, timeout int) *farm.Job {
		t.Helper()
		payload, _ := json.Marshal(farm.ScriptArgs{Script: script, Env: env})
		j, _, err := f.admin.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: payload, TimeoutSeconds: &timeout}, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	logOf := func(id string) func() string {
		return func() string { l, _ := f.admin.JobLog(ctx, id); return l }
	}

	// Timed out: the job's own timeout ends it while its escapees run (its
	// log says they were started).
	timedMarker := proctest.NewMarker()
	timed := submit(proctest.EscapeScript+"sleep 1000", proctest.Env(timedMarker), 10)

	// Ends by itself once the test has seen its escapees.
	endsMarker := proctest.NewMarker()
	gate := filepath.Join(gates, endsMarker)
	ends := submit(proctest.EscapeScript+`while [ ! -e "$GATE" ]; do sleep 0.05; done; echo main done`,
		map[string]string{proctest.MarkerVar: endsMarker, "GATE": gate}, 300)
	// Cancelled through the API.
	cancelMarker := proctest.NewMarker()
	cancelled := submit(proctest.EscapeScript+"sleep 1000", proctest.Env(cancelMarker), 300)

	var big strings.Builder
	big.WriteString("echo large script starts\n")
	for big.Len() < 200<<10 {
		big.WriteString(": padding the script past the 128 KiB the kernel allows one argument ----------\n")
	}
	big.WriteString("echo large script ends\n")
	large := submit(big.String(), nil, 300)

	proctest.WaitAtLeast(t, endsMarker, proctest.EscapedProcesses, time.Minute, logOf(ends.ID))
	proctest.WaitAtLeast(t, cancelMarker, proctest.EscapedProcesses, time.Minute, logOf(cancelled.ID))
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CancelJob(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		job    *farm.Job
		marker string
		check  func(j *farm.Job, log string) bool
	}{
		{ends, endsMarker, func(j *farm.Job, log string) bool {
			return j.Status == farm.StatusSucceeded && strings.Contains(log, "main done")
		}},
		{cancelled, cancelMarker, func(j *farm.Job, _ string) bool { return j.Status == farm.StatusCancelled }},
		{timed, timedMarker, func(j *farm.Job, _ string) bool {
			return (j.Status == farm.StatusFailed || j.Status == farm.StatusTimedOut) && strings.Contains(j.Error, "timeout")
		}},
	} {
		j := waitTerminal(t, f, c.job.ID)
		log := logOf(j.ID)()
		if !c.check(j, log) || !strings.Contains(log, "escaped") {
			t.Errorf("job %s: %s %q\n%s", j.ID, j.Status, j.Error, log)
		}
		proctest.WaitNone(t, c.marker, time.Minute)
	}

	j := waitTerminal(t, f, large.ID)
	if log := logOf(j.ID)(); j.Status != farm.StatusSucceeded || !strings.Contains(log, "large script ends") {
		t.Fatalf("the 200 KiB script: %s %q\n%s", j.Status, j.Error, log)
	}
}
