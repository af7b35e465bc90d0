package farm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var patchEpoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func drawTime(t *rapid.T, label string) *time.Time {
	return TimePtr(patchEpoch.Add(time.Duration(rapid.Int64Range(0, int64(48*time.Hour)).Draw(t, label))))
}

// drawRunningJob draws a running job: any run, version, history, earlier
// runs' artifacts (sometimes nearly MaxKeptArtifacts of them), lease.
func drawRunningJob(t *rapid.T) *Job {
	run := rapid.IntRange(1, 40).Draw(t, "run")
	started := drawTime(t, "started")
	j := &Job{
		ID: "01JOB" + rapid.StringMatching(`[0-9A-Z]{6}`).Draw(t, "id"), Type: TypeScript, Status: StatusRunning, Pool: "default",
		Score: rapid.Int64Range(-5, 5).Draw(t, "score"), Payload: json.RawMessage(`{"script":"true"}`), RequestedBy: "alice",
		CreatedAt: patchEpoch, QueuedAt: TimePtr(patchEpoch), StartedAt: started, Attempts: rapid.IntRange(1, 3).Draw(t, "attempts"),
		Run: run, MaxAttempts: 3, TimeoutSeconds: 3600, Builder: rapid.SampledFrom([]string{"b1", "b2"}).Draw(t, "builder"),
		ClaimToken: rapid.StringMatching(`tok-[a-z]{4}`).Draw(t, "token"), LeaseExpiresAt: drawTime(t, "lease"), ReapAt: drawTime(t, "reap"),
		Progress: rapid.SampledFrom([]string{"", "3/4"}).Draw(t, "progress"), BuilderFailures: rapid.IntRange(0, 2).Draw(t, "failures"),
		Version: rapid.Int64Range(2, 1000).Draw(t, "version"), CancelRequested: false,
		DeclaresFollowOns: rapid.Bool().Draw(t, "follows"), HasDependents: rapid.Bool().Draw(t, "dependents"),
	}
	if rapid.Bool().Draw(t, "waited") {
		w := 1.5
		j.TimeToStartSeconds = &w
	}
	kept := rapid.SampledFrom([]int{0, 1, 3, MaxKeptArtifacts - 2, MaxKeptArtifacts}).Draw(t, "kept")
	for i := range kept {
		j.Artifacts = append(j.Artifacts, Artifact{Name: fmt.Sprintf("a%d", i), Key: fmt.Sprintf("artifacts/x/%d", i), Attempt: rapid.IntRange(0, run-1).Draw(t, "attempt")})
	}
	for v := int64(1); v <= j.Version; v += rapid.Int64Range(1, 4).Draw(t, "step") {
		j.History = append(j.History, JobEvent{JobID: j.ID, Seq: SeqFor(v), At: patchEpoch, To: StatusQueued, Actor: "x"})
	}
	return j
}

func drawCompletion(t *rapid.T, token string) Completion {
	c := Completion{
		ClaimToken:  token,
		Result:      rapid.SampledFrom([]JobStatus{StatusSucceeded, StatusFailed, StatusCancelled, "exploded"}).Draw(t, "result"),
		Error:       rapid.SampledFrom([]string{"", "exit status 2"}).Draw(t, "error"),
		LogInline:   rapid.SampledFrom([]string{"", "done\n"}).Draw(t, "log"),
		LogComplete: rapid.Bool().Draw(t, "complete"),
	}
	if rapid.Bool().Draw(t, "uploaded") {
		c.LogKey = "logs/x/1"
	}
	if rapid.Bool().Draw(t, "exit") {
		code := rapid.IntRange(0, 3).Draw(t, "code")
		c.ExitCode = &code
	}
	if n := rapid.IntRange(-1, 4).Draw(t, "artifacts"); n >= 0 {
		c.Artifacts = []Artifact{}
		for i := range n {
			c.Artifacts = append(c.Artifacts, Artifact{Name: fmt.Sprintf("out%d", i), Key: fmt.Sprintf("artifacts/x/run/out%d", i), Size: int64(i)})
		}
	}
	return c
}

// normalised makes an empty artifact list nil: stores keep neither.
func normalised(j *Job) *Job {
	j = j.Clone()
	if len(j.Artifacts) == 0 {
		j.Artifacts = nil
	}
	return j
}

// A completion as a patch, applied to any job it presumes, is exactly what
// Job.Complete makes of that job — state, fields, history and event — and
// refuses what Complete refuses; the patch applies to no job that differs
// from the presumption in claim, version, run, builder or status. (Where
// the job keeps too many artifacts to append to, it does not apply either:
// the caller then takes Complete's path.)
func TestACompletionPatchIsWhatCompleteDoes(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		j := drawRunningJob(t)
		c := drawCompletion(t, j.ClaimToken)
		now := j.StartedAt.Add(time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "took")))
		want, ev, wantErr := j.Complete(j.Builder, c, now)
		patch, err := CompleteAsPresumed(j.ID, j.Builder, Presumed{ClaimToken: j.ClaimToken, Version: j.Version, Run: j.Run}, c, now)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("patch error %v, Complete's %v", err, wantErr)
		}
		if err != nil {
			if ErrorCode(err) != ErrorCode(wantErr) || err.Error() != wantErr.Error() {
				t.Fatalf("patch error %v, Complete's %v", err, wantErr)
			}
			return
		}
		fits := len(j.Artifacts)+len(c.Artifacts) <= MaxKeptArtifacts
		if patch.Applies(j) != fits {
			t.Fatalf("applies %v to its own presumption (artifacts fit: %v)", patch.Applies(j), fits)
		}
		if !fits {
			return
		}
		if patch.Event != *ev {
			t.Fatalf("patch event %+v, Complete's %+v", patch.Event, *ev)
		}
		before := j.Clone()
		if got := patch.Apply(j); !reflect.DeepEqual(normalised(got), normalised(want)) {
			t.Fatalf("patched job differs from Complete's:\n got %+v\nwant %+v", got, want)
		}
		if !reflect.DeepEqual(j, before) {
			t.Fatal("Apply changed the job it was given")
		}
		for name, other := range map[string]func(*Job){
			"version": func(o *Job) { o.Version++ },
			"token":   func(o *Job) { o.ClaimToken = "other" },
			"run":     func(o *Job) { o.Run++ },
			"builder": func(o *Job) { o.Builder = "b3" },
			"status":  func(o *Job) { o.Status = StatusCancelling },
		} {
			o := j.Clone()
			other(o)
			if patch.Applies(o) {
				t.Fatalf("the patch applies to a job with another %s", name)
			}
		}
	})
}

// A finished job's duration is its start to its end, whichever transition
// ended it: a store may derive it (Duration) instead of keeping it.
func TestDurationIsDerivedFromStartAndEnd(t *testing.T) {
	t.Parallel()
	start := patchEpoch
	j := &Job{ID: "j", Status: StatusRunning, Builder: "b", ClaimToken: "t", StartedAt: TimePtr(start), Run: 1, Version: 3, TimeoutSeconds: 60}
	for _, end := range []func() (*Job, *JobEvent, error){
		func() (*Job, *JobEvent, error) {
			return j.Complete("b", Completion{ClaimToken: "t", Result: StatusSucceeded}, start.Add(1500*time.Millisecond))
		},
		func() (*Job, *JobEvent, error) { return j.TimeOut(start.Add(2 * time.Hour)) },
	} {
		n, _, err := end()
		if err != nil {
			t.Fatal(err)
		}
		if d := Duration(n.StartedAt, n.FinishedAt); d == nil || n.DurationSeconds == nil || *d != *n.DurationSeconds {
			t.Fatalf("duration %v, derived %v", n.DurationSeconds, d)
		}
	}
	if Duration(nil, TimePtr(start)) != nil {
		t.Fatal("a job that never started has a duration")
	}
}
