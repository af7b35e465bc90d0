package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	// Nothing queued: 204 with no body.
	w := e.do(builder1, "POST", "/v1/builders/b1/claim", map[string]string{"pool": "default"})
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("empty pool: %d %q", w.Code, w.Body)
	}
	job := e.submit(submitterA, "echo")
	c := e.claim()
	if c.Job.ID != job.ID || c.Job.Status != farm.StatusRunning || c.Job.Builder != "b1" || c.ClaimToken == "" || c.SourceURL != "" {
		t.Fatalf("claim %+v", c)
	}
	if c.LeaseExpiresAt.Before(time.Now()) || c.Job.LeaseExpiresAt == nil || !c.Job.LeaseExpiresAt.Equal(c.LeaseExpiresAt) {
		t.Fatalf("lease %s / %v", c.LeaseExpiresAt, c.Job.LeaseExpiresAt)
	}
	// The answer says whether more was queued, false included (on the wire).
	e.submit(submitterA, "echo two")
	e.submit(submitterA, "echo three")
	for _, want := range []string{`"more_queued":true`, `"more_queued":false`} {
		// jobs_held 0: the agent's count (b1 has 2 slots and holds more here).
		w := e.do(builder1, "POST", "/v1/builders/b1/claim", map[string]any{"pool": "default", "jobs_held": 0})
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("claim of one of two queued jobs: %d, want %s in %s", w.Code, want, w.Body)
		}
	}
	// The claim token is the builder's secret: never in the job's JSON.
	if strings.Contains(e.do(admin, "GET", "/v1/jobs/"+job.ID, nil).Body.String(), c.ClaimToken) {
		t.Fatal("the job's JSON shows its claim token")
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"no pool", "/v1/builders/b1/claim", `{}`, 400, farm.EInvalid, "pool"},
		{"no body", "/v1/builders/b1/claim", ``, 400, farm.EInvalid, ""},
		{"bad pool", "/v1/builders/b1/claim", `{"pool":"Not A Pool"}`, 400, farm.EInvalid, "pool"},
		{"unserved pool", "/v1/builders/b1/claim", `{"pool":"gpu"}`, 400, farm.EInvalid, "pool"},
		{"pool the builder does not serve", "/v1/builders/b1/claim", `{"pool":"amd64"}`, 403, farm.EForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request("POST", tc.path, e.tokens[builder1], nil)
			if tc.body != "" {
				req = request("POST", tc.path, e.tokens[builder1], tc.body)
			}
			expectError(t, e.serve(req), tc.status, tc.code, tc.field)
		})
	}
	// An unregistered builder claims nothing.
	expectError(t, e.do(builder2, "POST", "/v1/builders/b2/claim", map[string]string{"pool": "default"}), http.StatusNotFound, farm.ENotFound, "")
}

func TestClaimPresignsSourceInOurBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(http.StatusOK, admin, "PUT", "/v1/builders/b1", map[string]any{"kind": "ec2", "arch": "amd64", "pools": []string{"default"}, "slots": 3}, nil)
	for _, tc := range []struct {
		payload map[string]any
		url     string
	}{
		{map[string]any{"source": "s3://" + testBucket + "/incoming/script/job.sh"}, "https://blobs.test/" + testBucket + "/incoming/script/job.sh?X-Amz-Signature=get"},
		// The version the ingest saw is the version the builder gets.
		{map[string]any{"source": "s3://" + testBucket + "/incoming/script/job.sh", "source_version": "v3"}, "https://blobs.test/" + testBucket + "/incoming/script/job.sh?X-Amz-Signature=get&versionId=v3"},
	} {
		e.must(http.StatusCreated, submitterA, "POST", "/v1/jobs", map[string]any{"type": "script", "payload": tc.payload}, nil)
		c := e.claim()
		if c.SourceURL != tc.url {
			t.Errorf("source %v: source_url %q, want %q", tc.payload, c.SourceURL, tc.url)
		}
	}
}

// A submitter may hand a job only what was uploaded under incoming/: never
// another job's log or artifacts, another bucket's objects or a URL for the
// builder to fetch.
func TestSubmittedSourcesStayUnderIncoming(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.submit(submitterB, "echo private")
	e.blobs.Upload(blobs.LogKey(other.ID, 1), "secret log")
	e.blobs.Upload(blobs.ArtifactKey(other.ID, 1, "key.pem"), "secret artifact")
	for _, src := range []string{
		"s3://" + testBucket + "/" + blobs.LogKey(other.ID, 1),
		"s3://" + testBucket + "/" + blobs.ArtifactKey(other.ID, 1, "key.pem"),
		"s3://" + testBucket + "/incoming/../" + blobs.LogKey(other.ID, 1),
		"s3://" + testBucket + "/incoming/script/./x.sh",
		"s3://" + testBucket + "/incoming/",
		"s3://" + testBucket + "/incomingx/script/x.sh",
		"s3://someone-elses-bucket/incoming/script/x.sh",
		"s3://" + testBucket + "x/incoming/script/x.sh",
		"https://example.com/x.sh",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"file:///etc/shadow",
	} {
		for _, typ := range []string{"script", "binary-build"} {
			w := e.do(submitterA, "POST", "/v1/jobs", map[string]any{"type": typ, "payload": map[string]any{"source": src}})
			expectError(t, w, http.StatusBadRequest, farm.EInvalid, "payload.source")
		}
		// Nor through a follow-on declared in the payload.
		then := map[string]any{"type": "script", "payload": map[string]any{"script": "true", "then": []any{map[string]any{"type": "binary-build", "payload": map[string]any{"source": src}}}}}
		expectError(t, e.do(submitterA, "POST", "/v1/jobs", then), http.StatusBadRequest, farm.EInvalid, "payload.then[0]")
	}
	if list := e.listJobs(admin, "limit=100"); len(list.Jobs) != 1 {
		t.Fatalf("%d jobs after refused submits, want 1", len(list.Jobs))
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job, token := e.running("echo")

	var hb apiv1.HeartbeatResponse
	e.must(http.StatusOK, builder1, "POST", "/v1/builders/b1/heartbeat", map[string]any{
		"jobs": []map[string]string{{"id": job.ID, "claim_token": token, "log": "line 1\n", "progress": "10%"}},
	}, &hb)
	if hb.Directives == nil || len(hb.Directives) != 0 || hb.Drain || hb.HeartbeatSeconds != 10 || hb.LeaseSeconds != 30 || hb.LeaseExpiresAt.Before(time.Now()) {
		t.Fatalf("heartbeat %+v", hb)
	}
	if got := e.getJob(job.ID); got.Progress != "10%" {
		t.Fatalf("progress %q", got.Progress)
	}
	// No body at all is a heartbeat of an idle builder.
	e.must(http.StatusOK, builder1, "POST", "/v1/builders/b1/heartbeat", nil, &hb)

	// A cancel shows up as a directive.
	e.must(http.StatusOK, submitterA, "POST", "/v1/jobs/"+job.ID+"/cancel", nil, nil)
	e.must(http.StatusOK, builder1, "POST", "/v1/builders/b1/heartbeat", map[string]any{
		"jobs": []map[string]string{{"id": job.ID, "claim_token": token}},
	}, &hb)
	if len(hb.Directives) != 1 || hb.Directives[0].JobID != job.ID || hb.Directives[0].Action != apiv1.ActionCancel {
		t.Fatalf("directives %+v", hb.Directives)
	}

	// A stale claim: 409 with the error and the directives; the valid claim was renewed.
	other, otherToken := e.running("echo 2")
	w := e.do(builder1, "POST", "/v1/builders/b1/heartbeat", map[string]any{
		"jobs": []map[string]string{{"id": other.ID, "claim_token": otherToken, "log": "more\n"}, {"id": job.ID, "claim_token": "stale"}},
	})
	if w.Code != http.StatusConflict {
		t.Fatalf("stale heartbeat: %d %s", w.Code, w.Body)
	}
	var conflict apiv1.HeartbeatConflict
	decodeInto(t, w, &conflict)
	if conflict.Error.Code != farm.EConflict || conflict.Error.RequestID == "" || len(conflict.Directives) != 1 || conflict.Directives[0].JobID != job.ID || conflict.LeaseSeconds != 30 {
		t.Fatalf("conflict %s", w.Body)
	}
	if got := e.getJob(other.ID); got.Version <= other.Version {
		t.Fatalf("the valid lease was not renewed: version %d", got.Version)
	}

	// A builder the farm does not know is told to register again.
	e.must(http.StatusOK, builder2, "POST", "/v1/builders/b2/heartbeat", `{"jobs":[]}`, &hb)
	if len(hb.Directives) != 1 || hb.Directives[0].Action != apiv1.ActionReregister {
		t.Fatalf("unknown builder directives %+v", hb.Directives)
	}

	for body, field := range map[string]string{
		`{"jobs":[{"id":"nope","claim_token":"x"}]}`:                                                     "jobs[0].id",
		`{"jobs":[{"id":"` + job.ID + `","claim_token":"x"},{"id":"` + job.ID + `","claim_token":"x"}]}`: "jobs[1].id",
		`{"jobs":{}}`:                   "jobs",
		`{"jobs":[],"state":"running"}`: "state",
	} {
		expectError(t, e.do(builder1, "POST", "/v1/builders/b1/heartbeat", body), http.StatusBadRequest, farm.EInvalid, field)
	}
}

func TestArtifactURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job, token := e.running("echo")
	var u apiv1.ArtifactURL
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/artifacts", map[string]string{"claim_token": token, "name": "dist/hello_1.0.deb"}, &u)
	if u.Key != "artifacts/"+job.ID+"/1/dist/hello_1.0.deb" || u.Name != "dist/hello_1.0.deb" || u.Method != http.MethodPut || !strings.Contains(u.URL, u.Key) {
		t.Fatalf("artifact url %+v", u)
	}
	if d := time.Until(u.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute {
		t.Fatalf("expires in %s, want 15 minutes", d)
	}
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/artifacts", map[string]string{"claim_token": token, "kind": "log"}, &u)
	if u.Key != blobs.LogKey(job.ID, 1) {
		t.Fatalf("log url %+v", u)
	}

	for _, tc := range []struct {
		body        map[string]string
		status      int
		code, field string
	}{
		{map[string]string{"claim_token": token}, 400, farm.EInvalid, "name"},
		{map[string]string{"claim_token": token, "name": "../../etc/passwd"}, 400, farm.EInvalid, "name"},
		{map[string]string{"claim_token": token, "name": "/abs"}, 400, farm.EInvalid, "name"},
		{map[string]string{"claim_token": token, "name": "a//b"}, 400, farm.EInvalid, "name"},
		{map[string]string{"claim_token": token, "name": "sp ace"}, 400, farm.EInvalid, "name"},
		{map[string]string{"claim_token": token, "name": "x", "kind": "core"}, 400, farm.EInvalid, "kind"},
		{map[string]string{"name": "x"}, 400, farm.EInvalid, "claim_token"},
		{map[string]string{"claim_token": "stale", "name": "x"}, 409, farm.EConflict, ""},
	} {
		expectError(t, e.do(builder1, "POST", "/v1/jobs/"+job.ID+"/artifacts", tc.body), tc.status, tc.code, tc.field)
	}
	// Another builder, even with the right token, does not hold the claim:
	// with it, it would act for b1; without it, its claim is stale.
	expectError(t, e.do(builder2, "POST", "/v1/jobs/"+job.ID+"/artifacts", map[string]string{"claim_token": token, "name": "x"}), http.StatusForbidden, farm.EForbidden, "")
	expectError(t, e.do(builder2, "POST", "/v1/jobs/"+job.ID+"/artifacts", map[string]string{"claim_token": "stale", "name": "x"}), http.StatusConflict, farm.EConflict, "")
	expectError(t, e.do(builder1, "POST", "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/artifacts", map[string]string{"claim_token": token, "name": "x"}), http.StatusNotFound, farm.ENotFound, "")
}

func TestCompleteRecordsArtifactsAndLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job, token := e.running("echo")
	e.must(http.StatusOK, builder1, "POST", "/v1/builders/b1/heartbeat", map[string]any{
		"jobs": []map[string]string{{"id": job.ID, "claim_token": token, "log": "building\n"}},
	}, nil)
	// While running, the log is the tail.
	if w := e.must(http.StatusOK, submitterB, "GET", "/v1/jobs/"+job.ID+"/log", nil, nil); w.Body.String() != "building\n" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("running log %q (%s)", w.Body, w.Header().Get("Content-Type"))
	}

	var done farm.Job
	expectError(t, e.do(builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{
		"claim_token": token, "result": "succeeded", "artifacts": []any{map[string]string{"name": "b.txt", "sha256": "not-hex"}},
	}), http.StatusBadRequest, farm.EInvalid, "artifacts[0].sha256")
	expectError(t, e.do(builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{
		"claim_token": token, "result": "succeeded", "artifacts": []any{map[string]string{"name": "b.txt", "md5": "x"}},
	}), http.StatusBadRequest, farm.EInvalid, "")
	// Artifacts are names or {name, sha256?, size?, version_id?}: recorded
	// as declared, under this run's prefix.
	debSum := strings.Repeat("d", 64)
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{
		"claim_token": token, "result": "succeeded", "exit_code": 0, "log": "done\n",
		"artifacts": []any{map[string]any{"name": "out/a.deb", "sha256": debSum, "size": 9, "version_id": "v7"}, "b.txt"},
	}, &done)
	if done.Status != farm.StatusSucceeded || done.FinishedAt == nil || done.LogKey != "" {
		t.Fatalf("done %+v", done)
	}
	want := []farm.Artifact{
		{Name: "out/a.deb", Bucket: testBucket, Key: "artifacts/" + job.ID + "/1/out/a.deb", Size: 9, SHA256: debSum, Attempt: 1, VersionID: "v7"},
		{Name: "b.txt", Bucket: testBucket, Key: "artifacts/" + job.ID + "/1/b.txt", Attempt: 1},
	}
	if len(done.Artifacts) != 2 || done.Artifacts[0] != want[0] || done.Artifacts[1] != want[1] {
		t.Fatalf("artifacts %+v, want %+v", done.Artifacts, want)
	}
	// The builder stored no whole log: the log is what the heartbeats and
	// the completion carried.
	if w := e.must(http.StatusOK, submitterA, "GET", "/v1/jobs/"+job.ID+"/log", nil, nil); w.Body.String() != "building\ndone\n" {
		t.Fatalf("finished log %q", w.Body)
	}
	// A second completion with the same (now spent) token changes nothing.
	done = *e.getJob(job.ID)
	expectError(t, e.do(builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": token, "result": "failed"}), http.StatusConflict, farm.EConflict, "")
	if got := e.getJob(job.ID); got.Status != farm.StatusSucceeded || got.Version != done.Version {
		t.Fatalf("job changed by a stale completion: %+v", got)
	}
}

func TestCompleteKeepsTheBuildersOwnLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job, token := e.running("echo")
	full := strings.Repeat("the whole log\n", 1000)
	e.blobs.Upload(blobs.LogKey(job.ID, 1), full)
	var done farm.Job
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": token, "result": "failed", "error": "exit status 2", "exit_code": 2, "log_uploaded": true, "log_size": len(full)}, &done)
	if done.Status != farm.StatusFailed || done.Error != "exit status 2" || done.ExitCode == nil || *done.ExitCode != 2 || done.LogKey != blobs.LogKey(job.ID, 1) {
		t.Fatalf("done %+v", done)
	}
	if w := e.must(http.StatusOK, admin, "GET", "/v1/jobs/"+job.ID+"/log", nil, nil); w.Body.String() != full {
		t.Fatalf("log is not the builder's upload: %q", w.Body.String()[:40])
	}
}

func TestCompleteWhenStorageFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job, token := e.running("echo")
	e.blobs.Fail(farm.Errorf(farm.EUnavailable, "object storage is unavailable; try again"))
	// A completion makes no object storage call: artifacts and a small
	// log are recorded with storage down.
	var done farm.Job
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": token, "result": "succeeded", "artifacts": []string{"a"}, "log": "ok\n", "log_complete": true}, &done)
	if done.Status != farm.StatusSucceeded || done.LogKey != "" || len(done.Artifacts) != 1 {
		t.Fatalf("done %+v", done)
	}
	if w := e.must(http.StatusOK, admin, "GET", "/v1/jobs/"+job.ID+"/log", nil, nil); w.Body.String() != "ok\n" {
		t.Fatalf("log %q", w.Body)
	}
}

func TestJobLogLargeIsARedirectAndMissingIsTheTail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	big, token := e.running("echo")
	e.blobs.Upload(blobs.LogKey(big.ID, 1), strings.Repeat("x", 4<<20+1))
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+big.ID+"/complete", map[string]any{"claim_token": token, "result": "succeeded", "log_uploaded": true}, nil)
	w := e.do(admin, "GET", "/v1/jobs/"+big.ID+"/log", nil)
	if w.Code != http.StatusTemporaryRedirect || !strings.Contains(w.Header().Get("Location"), blobs.LogKey(big.ID, 1)) {
		t.Fatalf("large log: %d %v", w.Code, w.Header())
	}

	gone, token := e.running("echo")
	// A builder that says it uploaded but did not: the log is what came with the completion.
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+gone.ID+"/complete", map[string]any{"claim_token": token, "result": "succeeded", "log": "tail only\n", "log_uploaded": true}, nil)
	if w := e.must(http.StatusOK, admin, "GET", "/v1/jobs/"+gone.ID+"/log", nil, nil); w.Body.String() != "tail only\n" {
		t.Fatalf("log %q", w.Body)
	}
}

func TestCompleteRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job, token := e.running("echo")
	for _, tc := range []struct {
		body        string
		status      int
		code, field string
	}{
		{`{"claim_token":"` + token + `"}`, 400, farm.EInvalid, "result"},
		{`{"claim_token":"` + token + `","result":"exploded"}`, 400, farm.EInvalid, "result"},
		{`{"claim_token":"` + token + `","result":"cancelled"}`, 400, farm.EInvalid, "result"},
		{`{"result":"succeeded"}`, 400, farm.EInvalid, "claim_token"},
		{`{"claim_token":"` + token + `","result":"succeeded","artifacts":["../x"]}`, 400, farm.EInvalid, "artifacts[0]"},
		{`{"claim_token":"` + token + `","result":"succeeded","artifacts":["a","a"]}`, 400, farm.EInvalid, "artifacts[1]"},
		{`{"claim_token":"` + token + `","result":"succeeded","extra":1}`, 400, farm.EInvalid, "extra"},
		{`{"claim_token":"other","result":"succeeded"}`, 409, farm.EConflict, ""},
	} {
		expectError(t, e.do(builder1, "POST", "/v1/jobs/"+job.ID+"/complete", tc.body), tc.status, tc.code, tc.field)
	}
	if got := e.getJob(job.ID); got.Status != farm.StatusRunning {
		t.Fatalf("refused completions changed the job: %s", got.Status)
	}
	// A long error is cut, not refused.
	var done farm.Job
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": token, "result": "failed", "error": strings.Repeat("é", 5000)}, &done)
	if len(done.Error) > 4096 || !strings.HasPrefix(done.Error, "éé") {
		t.Fatalf("error of %d bytes", len(done.Error))
	}
}
