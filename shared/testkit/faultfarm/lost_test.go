package faultfarm_test

import (
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/testkit/faultfarm"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

// loseOnce loses the answer to the first DynamoDB write on the jobs table
// whose body holds every one of parts (a PutItem today; a transaction
// carrying the job's item after the store's redesign matches too): the
// write is applied, its answer never arrives, and the SDK sends it again.
func loseOnce(f *faultfarm.Farm, parts ...string) faultproxy.Spec {
	return loseOnceIn(f.Local.Config.Topology.Jobs.Name, parts, nil)
}

// loseOnceIn loses the answer to the first DynamoDB write on table whose
// body holds every one of parts and none of lacks.
func loseOnceIn(table string, parts, lacks []string) faultproxy.Spec {
	return faultproxy.Spec{Rules: []faultproxy.Rule{{
		Service: faultproxy.ServiceDynamoDB, Fault: faultproxy.FaultLoseAnswer, Rate: 1, Times: 1,
		BodyContains: append([]string{`"TableName":"` + table + `"`}, parts...), BodyLacks: lacks,
	}}}
}

func lostOnce(t *testing.T, res *faultfarm.Result) {
	t.Helper()
	if n := res.Counts.Total().LostAnswers; n != 1 {
		t.Fatalf("%d answers lost, want 1: the rule did not pick its write", n)
	}
}

// The answer to a job's create write is lost: the job is written, the SDK's
// retry fails the create's condition on the job's own write, and the store
// recognises it (the same history event) and answers success.
func TestALostCreateAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnce(f, `"status":{"S":"queued"}`, "attribute_not_exists"), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}

// The answer to a claim write is lost: the job is claimed for the builder,
// the SDK's retry fails the claim's condition on its own write, which the
// store recognises by its claim token and event.
func TestALostClaimAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnce(f, `"status":{"S":"running"}`, `{"S":"queued"}`), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}

// The answer to a completion write is lost: the job is succeeded, the
// SDK's retry fails the completion's condition on its own write, which the
// store recognises by its event. (The agent's completion presumes the job
// as its claim answer showed it: one write — the whole finished job where
// the API process wrote that job, else a patch — the only write on the
// jobs table that sets a finished status on a running job.)
func TestALostCompletionAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnce(f, `{"S":"succeeded"}`, `{"S":"running"}`), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}

// The answer to a submission's idempotency record is lost: the SDK's retry
// finds the key taken, and the submission recognises its own record (the
// same request hash) and goes on to create the job.
func TestALostIdempotencyRecordAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnceIn(f.Local.Config.Topology.Idempotency.Name, []string{"attribute_not_exists"}, nil), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}

// The answer to a heartbeat's lease renewal is lost (a write of a running
// job that is not its claim).
func TestALostHeartbeatAnswer(t *testing.T) {
	f := startFarm(t)
	// A claim's condition is that the job has no claim token yet
	// (attribute_not_exists); a renewal's names the token it holds.
	spec := loseOnceIn(f.Local.Config.Topology.Jobs.Name, []string{`"status":{"S":"running"}`}, []string{"attribute_not_exists"})
	res := run(t, f, spec, faultfarm.Workload{Jobs: 2, Sleep: 4 * heartbeat})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}
