package claims_test

import (
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Who may complete, and with what: the request is checked before the
// claim, the claim before anything is stored.
func TestCompleteRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	f.register(t, "b2", 1)
	j := f.script(t, 0)
	token := f.claim(t, "b1").Job.ClaimToken
	ok := claims.Report{ClaimToken: token, Result: "succeeded"}
	with := func(change func(*claims.Report)) claims.Report { r := ok; change(&r); return r }
	for _, tc := range []struct {
		name  string
		by    farm.Principal
		id    string
		r     claims.Report
		code  string
		field string
	}{
		{"unknown job", builder("b1"), farm.NewID(t0), ok, farm.ENotFound, ""},
		{"no result", builder("b1"), j.ID, with(func(r *claims.Report) { r.Result = "" }), farm.EInvalid, "result"},
		{"unknown result", builder("b1"), j.ID, with(func(r *claims.Report) { r.Result = "meh" }), farm.EInvalid, "result"},
		{"bad artifact name", builder("b1"), j.ID, with(func(r *claims.Report) { r.Artifacts = []claims.ArtifactRef{{Name: "../x"}} }), farm.EInvalid, "artifacts[0]"},
		{"bad artifact hash", builder("b1"), j.ID, with(func(r *claims.Report) { r.Artifacts = []claims.ArtifactRef{{Name: "x", SHA256: "XYZ"}} }), farm.EInvalid, "artifacts[0].sha256"},
		{"artifact twice", builder("b1"), j.ID, with(func(r *claims.Report) { r.Artifacts = []claims.ArtifactRef{{Name: "x"}, {Name: "x"}} }), farm.EInvalid, "artifacts[1]"},
		{"no claim token", builder("b1"), j.ID, with(func(r *claims.Report) { r.ClaimToken = "" }), farm.EInvalid, "claim_token"},
		{"stale claim token", builder("b1"), j.ID, with(func(r *claims.Report) { r.ClaimToken = "stale" }), farm.EConflict, ""},
		{"another builder with the token", builder("b2"), j.ID, ok, farm.EForbidden, ""},
		{"a submitter with the token", alice, j.ID, ok, farm.EForbidden, ""},
		{"negative artifact size", builder("b1"), j.ID, with(func(r *claims.Report) { r.Artifacts = []claims.ArtifactRef{{Name: "x", Size: -1}} }), farm.EInvalid, "artifacts[0].size"},
		{"whole log too large", builder("b1"), j.ID, with(func(r *claims.Report) { r.Log, r.LogComplete = strings.Repeat("x", farm.MaxInlineLog+1), true }), farm.EInvalid, "log"},
		{"log carried and uploaded", builder("b1"), j.ID, with(func(r *claims.Report) { r.LogComplete, r.LogUploaded = true, true }), farm.EInvalid, "log_complete"},
	} {
		if _, err := f.Complete(ctx, tc.by, tc.id, tc.r); !farm.IsCode(err, tc.code) || fieldOf(err) != tc.field {
			t.Errorf("%s: %v, want %s %q", tc.name, err, tc.code, tc.field)
		}
	}
	if got := f.job(t, j.ID); got.Status != farm.StatusRunning {
		t.Fatalf("a refused completion made the job %s", got.Status)
	}
}

// A completion records the run's artifacts as the builder declares them
// (under the run's own prefix) and the log it carries whole. The job comes
// back as the builder may see it; the builder's item is not written.
func TestComplete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	j := f.queue(t, farm.TypeScript, `{"script":"true","env":{"KEY":"s3cret"}}`, 0)
	c := f.claim(t, "b1")
	_, err := f.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: c.Job.ClaimToken}}, false)
	must(t, err)
	if b, _ := f.builders.Get(ctx, "b1"); len(b.CurrentJobs) != 1 || b.State != farm.BuilderBusy {
		t.Fatalf("builder running a job %+v", b)
	}
	before, _ := f.builders.Get(ctx, "b1")
	given := strings.Repeat("a", 64)
	done, err := f.Complete(ctx, builder("b1"), j.ID, claims.Report{ClaimToken: c.Job.ClaimToken, Result: "failed", Error: strings.Repeat("e", claims.MaxErrorText+10),
		ExitCode: ptr(2), Artifacts: []claims.ArtifactRef{{Name: "out/a.deb", Size: 9, VersionID: "v1"}, {Name: "b.txt", SHA256: given}}, Log: "building\ndone\n", LogComplete: true})
	must(t, err)
	if done.Status != farm.StatusFailed || *done.ExitCode != 2 || len(done.Error) != claims.MaxErrorText || !done.PayloadRedacted || strings.Contains(string(done.Payload), "s3cret") {
		t.Fatalf("completed %+v", done)
	}
	if len(done.Artifacts) != 2 || done.Artifacts[0].Key != blobs.ArtifactKey(j.ID, 1, "out/a.deb") || done.Artifacts[1].SHA256 != given ||
		done.Artifacts[0].Bucket != "farm" || done.Artifacts[0].VersionID != "v1" || done.Artifacts[0].Size != 9 || done.Artifacts[1].Attempt != 1 {
		t.Fatalf("artifacts %+v", done.Artifacts)
	}
	if stored := f.job(t, j.ID); !stored.LogComplete || stored.LogInline != "building\ndone\n" || stored.LogKey != "" {
		t.Fatalf("stored log %q complete %v key %q", stored.LogInline, stored.LogComplete, stored.LogKey)
	}
	// The builder holds nothing now (its jobs are derived), and its item
	// was not written: its count of jobs done grows with its next beat.
	b, _ := f.builders.Get(ctx, "b1")
	if b.JobsCompleted != 0 || len(b.CurrentJobs) != 0 || b.State != farm.BuilderIdle || b.Version != before.Version {
		t.Fatalf("builder after a completion %+v (before: version %d)", b, before.Version)
	}
	_, err = f.Beat(ctx, "b1", claims.Beat{Completed: 1})
	must(t, err)
	if b, _ := f.builders.Get(ctx, "b1"); b.JobsCompleted != 1 {
		t.Fatalf("builder after a heartbeat %+v", b)
	}
	// An admin completes as the holder; an uploaded log is named by its run.
	j2 := f.script(t, 0)
	f.clock.Advance(time.Minute)
	c2 := f.claim(t, "b1")
	done, err = f.Complete(ctx, admin, j2.ID, claims.Report{ClaimToken: c2.Job.ClaimToken, Result: "succeeded", LogUploaded: true, LogSize: 1 << 20})
	must(t, err)
	if done.LogKey != blobs.LogKey(j2.ID, 1) || done.Builder != "b1" {
		t.Fatalf("an admin's completion as the holder: %+v", done)
	}
}

// Record is fenced by the claim: a late or foreign result changes nothing.
func TestRecordIsFenced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	f.register(t, "b2", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	for _, bad := range []struct{ builder, token string }{{"b1", "stale"}, {"b1", ""}, {"b2", c.Job.ClaimToken}} {
		if _, err := f.Record(ctx, bad.builder, j.ID, farm.Completion{ClaimToken: bad.token, Result: farm.StatusSucceeded}); !farm.IsCode(err, farm.EConflict) {
			t.Fatalf("record by %s with %q: %v", bad.builder, bad.token, err)
		}
	}
	if got := f.job(t, j.ID); got.Status != farm.StatusRunning {
		t.Fatalf("job %s", got.Status)
	}
}

func TestUploadURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	token := f.claim(t, "b1").Job.ClaimToken
	for _, tc := range []struct {
		name      string
		by        farm.Principal
		req       claims.UploadRequest
		code      string
		key, file string
	}{
		{"artifact", builder("b1"), claims.UploadRequest{ClaimToken: token, Name: "dist/a.deb"}, "", blobs.ArtifactKey(j.ID, 1, "dist/a.deb"), "dist/a.deb"},
		{"the log", builder("b1"), claims.UploadRequest{ClaimToken: token, Kind: claims.KindLog}, "", blobs.LogKey(j.ID, 1), j.ID + ".log"},
		{"unknown kind", builder("b1"), claims.UploadRequest{ClaimToken: token, Kind: "core"}, farm.EInvalid, "", ""},
		{"a path out", builder("b1"), claims.UploadRequest{ClaimToken: token, Name: "../../etc/passwd"}, farm.EInvalid, "", ""},
		{"stale claim", builder("b1"), claims.UploadRequest{ClaimToken: "stale", Name: "a"}, farm.EConflict, "", ""},
		{"another builder", builder("b2"), claims.UploadRequest{ClaimToken: token, Name: "a"}, farm.EForbidden, "", ""},
	} {
		up, err := f.UploadURL(ctx, tc.by, j.ID, tc.req)
		if tc.code != "" {
			if !farm.IsCode(err, tc.code) {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil || up.Key != tc.key || up.Name != tc.file || up.Method != "PUT" || !strings.Contains(up.URL, tc.key) || up.ExpiresAt.Before(t0) {
			t.Errorf("%s: %+v %v", tc.name, up, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A builder gives a job back (a spot notice): requeued at once for
// another builder, only by the claim's holder.
func TestHandBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	f.register(t, "b2", 1)
	j := f.script(t, 0)
	token := f.claim(t, "b1").Job.ClaimToken
	for _, tc := range []struct {
		name          string
		by            farm.Principal
		token, reason string
		code          string
	}{
		{"another builder", builder("b2"), token, "spot", farm.EForbidden},
		{"stale token", builder("b1"), "stale", "spot", farm.EConflict},
		{"no reason", builder("b1"), token, " ", farm.EInvalid},
	} {
		if _, err := f.HandBack(ctx, tc.by, j.ID, tc.token, tc.reason); !farm.IsCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	back, err := f.HandBack(ctx, builder("b1"), j.ID, token, "spot interruption notice")
	if err != nil || back.Status != farm.StatusQueued || back.Attempts != 0 || back.Builder != "" {
		t.Fatalf("handed back %+v %v", back, err)
	}
	if b, _ := f.builders.Get(ctx, "b1"); len(b.CurrentJobs) != 0 {
		t.Fatalf("b1 still holds %v", b.CurrentJobs)
	}
	if c := f.claim(t, "b2"); c.Job.ID != j.ID {
		t.Fatalf("b2 claimed %s", c.Job.ID)
	}
}

// A builder that sends its completion again (the first answer was lost)
// finds its own result: the same answer, not a conflict, and nothing
// written twice. A different result for the same claim is still refused.
func TestACompletionSentAgainFindsItsOwnResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	token := f.claim(t, "b1").Job.ClaimToken
	r := claims.Report{ClaimToken: token, Result: "failed", Error: "exit status 3"}
	first, err := f.Complete(ctx, builder("b1"), j.ID, r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.Complete(ctx, builder("b1"), j.ID, r)
	if err != nil || again.Status != farm.StatusFailed || again.Version != first.Version {
		t.Fatalf("the retried completion: %+v, %v", again, err)
	}
	if _, err := f.Complete(ctx, builder("b1"), j.ID, claims.Report{ClaimToken: token, Result: "succeeded"}); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("another result for the finished claim: %v, want a conflict", err)
	}
	if _, err := f.Complete(ctx, builder("b1"), j.ID, claims.Report{ClaimToken: "other", Result: "failed", Error: "exit status 3"}); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("the result under another token: %v, want a conflict", err)
	}
}
