package faultfarm_test

import (
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/testkit/farmcheck"
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
// retry fails the create's condition on the job's own write.
func TestALostCreateAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnce(f, `"status":{"S":"queued"}`, "attribute_not_exists"), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, map[string]string{
		farmcheck.PromiseAccepted: "the submission is answered 409 conflict although its job was written and runs (the retried create fails its condition on its own write and is taken for a lost race)",
		farmcheck.PromiseHistory:  "the job has no creation event (the store appends events only after a state write it believes succeeded)",
	})
}

// The answer to a claim write is lost: the job is claimed for the builder,
// the SDK's retry fails the claim's condition on its own write.
func TestALostClaimAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnce(f, `"status":{"S":"running"}`, `{"S":"queued"}`), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, map[string]string{
		farmcheck.PromiseClaimRuns: "the claimer takes its own claim for a lost race: the job sits running with no builder until its lease expires, then runs again",
		farmcheck.PromiseHistory:   "the claim's running event is never written: the history goes queued, then running→queued",
		farmcheck.PromiseBuilders:  "the reaper blames the builder whose claim answer was lost (a failure counted, marked lost)",
	})
}

// The answer to a completion write is lost: the job is succeeded, the
// SDK's retry fails the completion's condition on its own write.
func TestALostCompletionAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnce(f, `"status":{"S":"succeeded"}`), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, map[string]string{
		farmcheck.PromiseCompletion: "the builder is answered 409 (its claim no longer valid) although its result was recorded",
		farmcheck.PromiseHistory:    "the terminal event is never written: the history ends at running while the job succeeded",
		farmcheck.PromiseClaim:      "intermittent: the completed job still holds a slot on the builder's record (the slot release never runs) until a heartbeat prunes it; a claim in between is answered 409 all slots busy",
	})
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

// The answer to a history event's write is lost: the event is an
// unconditional write, which the SDK's retry writes again, the same.
func TestALostEventAnswer(t *testing.T) {
	f := startFarm(t)
	res := run(t, f, loseOnceIn(f.Local.Config.Topology.JobEvents.Name, nil, nil), faultfarm.Workload{Jobs: 3, Sleep: 200 * time.Millisecond})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}

// The answer to a heartbeat's lease renewal is lost (a write of a running
// job that is not its claim).
func TestALostHeartbeatAnswer(t *testing.T) {
	f := startFarm(t)
	spec := loseOnceIn(f.Local.Config.Topology.Jobs.Name, []string{`"status":{"S":"running"}`}, []string{`{"S":"queued"}`})
	res := run(t, f, spec, faultfarm.Workload{Jobs: 2, Sleep: 4 * heartbeat})
	lostOnce(t, res)
	checkPromises(t, res, nil)
}
