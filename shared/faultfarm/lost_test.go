package faultfarm_test

import (
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farmcheck"
	"github.com/buildfarm/buildfarm/shared/faultfarm"
	"github.com/buildfarm/buildfarm/shared/faultproxy"
)

// loseOnce loses the answer to the first DynamoDB write on the jobs table
// whose body holds every one of parts (a PutItem today; a transaction
// carrying the job's item after the store's redesign matches too): the
// write is applied, its answer never arrives, and the SDK sends it again.
func loseOnce(f *faultfarm.Farm, parts ...string) faultproxy.Spec {
	return faultproxy.Spec{Rules: []faultproxy.Rule{{
		Service: faultproxy.ServiceDynamoDB, Fault: faultproxy.FaultLoseAnswer, Rate: 1, Times: 1,
		BodyContains: append([]string{`"TableName":"` + f.Local.Config.Topology.Jobs.Name + `"`}, parts...),
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
	})
}
