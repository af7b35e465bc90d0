package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// completeRun has b1 claim the job, upload files (name -> content) under
// the run's own prefix and complete it with result, naming them.
func (e *env) completeRun(id, result string, files map[string]string) *farm.Job {
	e.t.Helper()
	c := e.claim()
	if c.Job.ID != id {
		e.t.Fatalf("claimed %s, want %s", c.Job.ID, id)
	}
	var refs []any
	for name, content := range files {
		var u apiv1.ArtifactURL
		e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+id+"/artifacts", map[string]string{"claim_token": c.ClaimToken, "name": name}, &u)
		e.blobs.Upload(u.Key, content)
		obj, err := e.blobs.Head(context.Background(), u.Key)
		if err != nil {
			e.t.Fatal(err)
		}
		refs = append(refs, map[string]any{"name": name, "sha256": sha256Hex(content), "size": len(content), "version_id": obj.VersionID})
	}
	var done farm.Job
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+id+"/complete", map[string]any{"claim_token": c.ClaimToken, "result": result, "artifacts": refs}, &done)
	return &done
}

// A retried job keeps every run's artifacts under their own keys; a
// download is the latest run's unless ?attempt= names another, pinned to
// the recorded version, and it redirects (or, with redirect=false, says
// where to go).
func TestArtifactsOfEveryRunAreListedAndDownloaded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	job := e.submit(submitterA, "make")
	first := e.completeRun(job.ID, "failed", map[string]string{"dist/app.tar": "first run", "test.log": "FAIL"})
	e.must(http.StatusOK, submitterA, "POST", "/v1/jobs/"+job.ID+"/retry", nil, nil)
	second := e.completeRun(job.ID, "succeeded", map[string]string{"dist/app.tar": "second run!"})
	if first.Run != 1 || second.Run != 2 || second.Attempts != 1 {
		t.Fatalf("runs %d then %d (attempts %d)", first.Run, second.Run, second.Attempts)
	}
	if got, _ := e.blobs.Object(blobs.ArtifactKey(job.ID, 1, "dist/app.tar")); got != "first run" {
		t.Fatalf("the first run's upload was overwritten: %q", got)
	}

	var list apiv1.ArtifactList
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts", nil, &list)
	want := []apiv1.ArtifactInfo{
		{Name: "dist/app.tar", Size: 9, SHA256: sha256Hex("first run"), Attempt: 1},
		{Name: "test.log", Size: 4, SHA256: sha256Hex("FAIL"), Attempt: 1},
		{Name: "dist/app.tar", Size: 11, SHA256: sha256Hex("second run!"), Attempt: 2},
	}
	if len(list.Artifacts) != len(want) {
		t.Fatalf("artifacts %+v, want %+v", list.Artifacts, want)
	}
	for i := range want {
		if list.Artifacts[i] != want[i] {
			t.Fatalf("artifact %d: %+v, want %+v", i, list.Artifacts[i], want[i])
		}
	}

	stored := e.getJob(job.ID)
	for _, tc := range []struct {
		path    string
		attempt int
	}{
		{"/artifacts/dist/app.tar", 2},
		{"/artifacts/dist/app.tar?attempt=1", 1},
		{"/artifacts/test.log", 1}, // only the first run made it
	} {
		w := e.must(http.StatusTemporaryRedirect, submitterB, "GET", "/v1/jobs/"+job.ID+tc.path, nil, nil)
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.SplitN(strings.TrimPrefix(tc.path, "/artifacts/"), "?", 2)[0]
		a, _ := stored.LatestArtifact(name, tc.attempt)
		if !strings.HasSuffix(loc.Path, "/"+blobs.ArtifactKey(job.ID, tc.attempt, name)) || loc.Query().Get("versionId") != a.VersionID || a.VersionID == "" {
			t.Errorf("%s: Location %s, want the key of run %d at version %q", tc.path, loc, tc.attempt, a.VersionID)
		}
		if got := loc.Query().Get("filename"); got != name[strings.LastIndex(name, "/")+1:] {
			t.Errorf("%s: filename %q", tc.path, got)
		}
	}
	var d apiv1.ArtifactDownload
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts/dist/app.tar?redirect=false", nil, &d)
	if d.Attempt != 2 || d.SHA256 != want[2].SHA256 || !strings.Contains(d.URL, "/2/dist/app.tar") || d.ExpiresAt.IsZero() {
		t.Fatalf("download %+v", d)
	}

	for path, code := range map[string]int{
		"/artifacts/nope.tar":                http.StatusNotFound,
		"/artifacts/test.log?attempt=2":      http.StatusNotFound,
		"/artifacts/..%2Fetc/passwd":         http.StatusNotFound,
		"/artifacts/test.log?attempt=-1":     http.StatusBadRequest,
		"/artifacts/test.log?attempt=x":      http.StatusBadRequest,
		"/artifacts/test.log?redirect=maybe": http.StatusBadRequest,
		"/artifacts/test.log?other=1":        http.StatusBadRequest,
	} {
		if w := e.do(submitterB, "GET", "/v1/jobs/"+job.ID+path, nil); w.Code != code {
			t.Errorf("%s: %d %s, want %d", path, w.Code, w.Body, code)
		}
	}
	e.must(http.StatusNotFound, submitterB, "GET", "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/artifacts", nil, nil)
	var none apiv1.ArtifactList
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs/"+e.submit(submitterA, "true").ID+"/artifacts", nil, &none)
	if none.Artifacts == nil || len(none.Artifacts) != 0 {
		t.Fatalf("a job without artifacts lists %+v", none.Artifacts)
	}
}

func TestWhoAmI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, who := range []string{admin, submitterA, builder1} {
		var me apiv1.WhoAmI
		e.must(http.StatusOK, who, "GET", "/v1/whoami", nil, &me)
		if me.Actor != e.actors[who] || me.Role == "" || (who == builder1) != (me.Builder == "b1") {
			t.Errorf("%s: %+v (actor %s)", who, me, e.actors[who])
		}
	}
	e.must(http.StatusUnauthorized, none, "GET", "/v1/whoami", nil, nil)
}

// requested_by lists one submitter's jobs: the actor /v1/whoami names.
func TestListJobsByRequester(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a1, a2 := e.submit(submitterA, "a1"), e.submit(submitterA, "a2")
	e.submit(submitterB, "b1")
	var page apiv1.JobList
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs?requested_by="+url.QueryEscape(e.actors[submitterA]), nil, &page)
	if len(page.Jobs) != 2 || page.Jobs[0].ID != a2.ID || page.Jobs[1].ID != a1.ID {
		t.Fatalf("A's jobs: %+v", page.Jobs)
	}
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs?status=queued&requested_by=nobody", nil, &page)
	if len(page.Jobs) != 0 {
		t.Fatalf("nobody's jobs: %+v", page.Jobs)
	}
	expectError(t, e.do(admin, "GET", "/v1/jobs?requested_by="+strings.Repeat("x", 201), nil), http.StatusBadRequest, farm.EInvalid, "requested_by")
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
