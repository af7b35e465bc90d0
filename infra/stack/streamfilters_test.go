package stack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/eventpattern"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// mappingPatterns returns the filter patterns of fn's event source mapping
// on the jobs stream, as the template holds them.
func mappingPatterns(t *testing.T, fx *fixture, fn string) []string {
	t.Helper()
	for _, m := range fx.ofType("AWS::Lambda::EventSourceMapping") {
		p := m.Properties
		if !strings.Contains(toJSON(p["FunctionName"]), fx.ids["fn:"+fn]) || !strings.Contains(toJSON(p["EventSourceArn"]), fx.ids["table:"+fx.farm.Topology.Jobs.ID]) {
			continue
		}
		fc, _ := p["FilterCriteria"].(map[string]any)
		var out []string
		for _, f := range list(fc["Filters"]) {
			pattern, _ := f.(map[string]any)["Pattern"].(string)
			out = append(out, pattern)
		}
		return out
	}
	t.Fatalf("no jobs stream mapping for %s", fn)
	return nil
}

// jobRecord is a representative record of the jobs stream: a job going from
// old to next (nil: an insert, a removal), as the store writes its item.
type jobRecord struct {
	name      string
	old, next *farm.Job
}

func streamJob(status farm.JobStatus, edit func(*farm.Job)) *farm.Job {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	j := &farm.Job{ID: "01KAWZ6F0000000000000000S3", Type: farm.TypeScript, Status: status, Pool: "default", Payload: json.RawMessage(`{"script":"true"}`),
		CreatedAt: at, MaxAttempts: 3, TimeoutSeconds: 60, Version: 2,
		History: []farm.JobEvent{{JobID: "01KAWZ6F0000000000000000S3", Seq: farm.SeqFor(1), At: at, To: farm.StatusQueued, Actor: "submitter:a"}}}
	if status != farm.StatusWaiting {
		j.QueuedAt = &at
	}
	if status.Active() || status.Terminal() {
		j.StartedAt, j.Builder, j.ClaimToken, j.Attempts, j.Run = &at, "b1", "tok", 1, 1
	}
	if status.Terminal() {
		j.FinishedAt, j.Result, j.ClaimToken = &at, string(status), ""
	}
	if edit != nil {
		edit(j)
	}
	return j
}

func deps(j *farm.Job)      { j.HasDependents = true }
func followOns(j *farm.Job) { j.DeclaresFollowOns = true }
func clean(j *farm.Job)     { j.Type, j.Pool = farm.TypeCleanResource, "default" }

// matchRecords runs each record through the patterns the template holds
// and fails for each whose outcome is not want.
func matchRecords(t *testing.T, patterns []string, want bool, records []jobRecord) {
	t.Helper()
	m, err := eventpattern.Compile(patterns...)
	if err != nil {
		t.Fatalf("the synthesised filter is not in the matcher's subset: %v", err)
	}
	for i, r := range records {
		rec, err := dynamostore.JobStreamRecord("1", r.old, r.next)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.MatchValue(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("record %d (%s): passed %v, want %v", i, r.name, got, want)
		}
	}
}

// The dispatch function's mapping on the jobs stream carries
// dynamostore.DispatchFilter; run through the matcher the local runtime
// uses, the synthesised JSON passes the records the dispatcher has business
// with and nothing else — in particular not any record of a job nothing
// follows, from its submission to its end.
func TestDispatchMappingFilter(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		patterns := mappingPatterns(t, fx, FnDispatch)
		if !slices.Equal(patterns, dynamostore.DispatchFilter.Patterns()) {
			t.Fatalf("%s: the mapping's patterns\n  %v\nare not the store's filter\n  %v", name, patterns, dynamostore.DispatchFilter.Patterns())
		}
		matchRecords(t, patterns, true, []jobRecord{
			{"succeeded with dependents", streamJob(farm.StatusRunning, deps), streamJob(farm.StatusSucceeded, deps)},
			{"failed with dependents", streamJob(farm.StatusRunning, deps), streamJob(farm.StatusFailed, deps)},
			{"timed out with dependents", streamJob(farm.StatusRunning, deps), streamJob(farm.StatusTimedOut, deps)},
			{"cancelled while queued, with dependents", streamJob(farm.StatusQueued, deps), streamJob(farm.StatusCancelled, deps)},
			{"cancelled while waiting, with dependents", streamJob(farm.StatusWaiting, deps), streamJob(farm.StatusCancelled, deps)},
			{"succeeded, declares follow-ons", streamJob(farm.StatusRunning, followOns), streamJob(farm.StatusSucceeded, followOns)},
			{"clean job submitted", nil, streamJob(farm.StatusQueued, clean)},
			{"clean job claimed", streamJob(farm.StatusQueued, clean), streamJob(farm.StatusRunning, clean)},
			{"clean job failed", streamJob(farm.StatusRunning, clean), streamJob(farm.StatusFailed, clean)},
		})
		matchRecords(t, patterns, false, []jobRecord{
			{"submitted", nil, streamJob(farm.StatusQueued, nil)},
			{"submitted with follow-ons", nil, streamJob(farm.StatusQueued, followOns)},
			{"submitted waiting", nil, streamJob(farm.StatusWaiting, nil)},
			{"flagged by its first dependent", streamJob(farm.StatusQueued, nil), streamJob(farm.StatusQueued, deps)},
			{"claimed", streamJob(farm.StatusQueued, deps), streamJob(farm.StatusRunning, deps)},
			{"heartbeat", streamJob(farm.StatusRunning, deps), streamJob(farm.StatusRunning, func(j *farm.Job) { deps(j); j.Version++; j.Progress = "50%" })},
			{"cancelling", streamJob(farm.StatusRunning, deps), streamJob(farm.StatusCancelling, deps)},
			{"requeued", streamJob(farm.StatusRunning, deps), streamJob(farm.StatusQueued, deps)},
			{"a job nothing follows succeeds", streamJob(farm.StatusRunning, nil), streamJob(farm.StatusSucceeded, nil)},
			{"a job nothing follows fails", streamJob(farm.StatusRunning, nil), streamJob(farm.StatusFailed, nil)},
			{"fails, declares follow-ons (only success creates them)", streamJob(farm.StatusRunning, followOns), streamJob(farm.StatusFailed, followOns)},
			{"its follow-ons marked created", streamJob(farm.StatusSucceeded, followOns), streamJob(farm.StatusSucceeded, func(j *farm.Job) { followOns(j); deps(j); j.FollowOnsCreated = true })},
			{"ended job rewritten", streamJob(farm.StatusFailed, deps), streamJob(farm.StatusFailed, deps)},
			{"expired (TTL removal)", streamJob(farm.StatusSucceeded, func(j *farm.Job) { deps(j); followOns(j) }), nil},
		})
	}
}

// The scaler's mapping passes queued jobs only: its bursts.
func TestScalerMappingFilter(t *testing.T) {
	t.Parallel()
	patterns := mappingPatterns(t, asgFarm, FnScaler)
	if !slices.Equal(patterns, dynamostore.QueuedJobsFilter.Patterns()) {
		t.Fatalf("the mapping's patterns %v are not the store's filter %v", patterns, dynamostore.QueuedJobsFilter.Patterns())
	}
	matchRecords(t, patterns, true, []jobRecord{
		{"submitted", nil, streamJob(farm.StatusQueued, nil)},
		{"released", streamJob(farm.StatusWaiting, nil), streamJob(farm.StatusQueued, nil)},
		{"requeued", streamJob(farm.StatusRunning, nil), streamJob(farm.StatusQueued, nil)},
	})
	matchRecords(t, patterns, false, []jobRecord{
		{"submitted waiting", nil, streamJob(farm.StatusWaiting, nil)},
		{"claimed", streamJob(farm.StatusQueued, nil), streamJob(farm.StatusRunning, nil)},
		{"heartbeat", streamJob(farm.StatusRunning, nil), streamJob(farm.StatusRunning, nil)},
		{"succeeded", streamJob(farm.StatusRunning, nil), streamJob(farm.StatusSucceeded, nil)},
		{"expired", streamJob(farm.StatusQueued, nil), nil},
	})
}
