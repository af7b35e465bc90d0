package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestSubmitJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var job farm.Job
	w := e.must(http.StatusCreated, submitterA, "POST", "/v1/jobs", map[string]any{
		"type": "script", "payload": map[string]any{"script": "echo hi"}, "priority": 7, "max_attempts": 2, "timeout_seconds": 60,
	}, &job)
	if job.Status != farm.StatusQueued || job.Type != "script" || job.Pool != "default" || job.Priority != 7 || job.MaxAttempts != 2 || job.TimeoutSeconds != 60 {
		t.Fatalf("job %+v", job)
	}
	if job.RequestedBy != e.actors[submitterA] || !strings.HasPrefix(job.RequestedBy, "submitter:") {
		t.Fatalf("requested_by %q, want %q", job.RequestedBy, e.actors[submitterA])
	}
	if loc := w.Header().Get("Location"); loc != "/v1/jobs/"+job.ID {
		t.Fatalf("Location %q", loc)
	}
	if !farm.ValidID(job.ID) {
		t.Fatalf("id %q is not a ULID", job.ID)
	}
}

func TestSubmitIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withKey := func(who, key string, body any) (int, *farm.Job, apiv1.ErrorDetail) {
		req := request("POST", "/v1/jobs", e.tokens[who], body)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		w := e.serve(req)
		var job farm.Job
		if w.Code < 300 {
			decodeInto(t, w, &job)
			return w.Code, &job, apiv1.ErrorDetail{}
		}
		return w.Code, nil, errorOf(t, w)
	}

	code, first, _ := withKey(submitterA, "k1", script("echo 1"))
	if code != http.StatusCreated {
		t.Fatalf("first submit: %d", code)
	}
	code, again, _ := withKey(submitterA, "k1", script("echo 1"))
	if code != http.StatusOK || again.ID != first.ID {
		t.Fatalf("repeat: %d %+v, want 200 and job %s", code, again, first.ID)
	}
	// The body's key is the same key.
	body := script("echo 1")
	body["idempotency_key"] = "k1"
	if code, again, _ = withKey(submitterA, "", body); code != http.StatusOK || again.ID != first.ID {
		t.Fatalf("repeat by body key: %d", code)
	}
	// Same key, different request.
	if code, _, d := withKey(submitterA, "k1", script("echo 2")); code != http.StatusConflict || d.Code != farm.EIdempotencyMismatch {
		t.Fatalf("different request, same key: %d %+v", code, d)
	}
	// Header and body disagree.
	body["idempotency_key"] = "k2"
	if code, _, d := withKey(submitterA, "k1", body); code != http.StatusBadRequest || d.Field != "idempotency_key" {
		t.Fatalf("header and body keys differ: %d %+v", code, d)
	}
	// Keys are scoped per caller: another submitter's k1 is a new job.
	if code, other, _ := withKey(submitterB, "k1", script("echo 1")); code != http.StatusCreated || other.ID == first.ID {
		t.Fatalf("other caller's key: %d", code)
	}
}

func TestSubmitRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, body, field string
	}{
		{"unknown type", `{"type":"nope","payload":{}}`, "type"},
		{"missing type", `{"payload":{}}`, "type"},
		{"internal type", `{"type":"clean-resource","payload":{"resource_pool":"p","resource":"r"}}`, "type"},
		{"invalid payload", `{"type":"script","payload":{}}`, "payload.script"},
		{"unknown payload field", `{"type":"script","payload":{"script":"x","shell":"zsh"}}`, "payload.shell"},
		{"unknown field", `{"type":"script","payload":{"script":"x"},"colour":"red"}`, "colour"},
		{"wrong type", `{"type":"script","payload":{"script":"x"},"priority":"high"}`, "priority"},
		{"priority out of range", `{"type":"script","payload":{"script":"x"},"priority":10000000}`, "priority"},
		{"max attempts", `{"type":"script","payload":{"script":"x"},"max_attempts":0}`, "max_attempts"},
		{"bad dependency", `{"type":"script","payload":{"script":"x"},"depends_on":["x"]}`, "depends_on[0]"},
		{"unknown dependency", `{"type":"script","payload":{"script":"x"},"depends_on":["01ARZ3NDEKTSV4RRFFQ69G5FAV"]}`, "depends_on[0]"},
		{"unserved pool", `{"type":"script","payload":{"script":"x","pool":"gpu"}}`, "payload"},
		{"trailing data", `{"type":"script","payload":{"script":"x"}} {}`, ""},
		{"malformed", `{"type":"script",`, ""},
		{"not an object", `[1,2]`, ""},
		{"empty", ``, ""},
		{"null", `null`, "type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := e.do(submitterA, "POST", "/v1/jobs", tc.body)
			if tc.body == "" {
				w = e.serve(request("POST", "/v1/jobs", e.tokens[submitterA], nil))
			}
			expectError(t, w, http.StatusBadRequest, farm.EInvalid, tc.field)
		})
	}
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.submit(submitterA, "echo "+string(rune('a'+i))).ID)
	}
	var amd farm.Job
	e.must(http.StatusCreated, submitterB, "POST", "/v1/jobs", map[string]any{"type": "binary-build", "payload": map[string]any{"package": "hello"}}, &amd)

	var page apiv1.JobList
	e.must(http.StatusOK, builder1, "GET", "/v1/jobs", nil, &page)
	if len(page.Jobs) != 6 || page.Jobs[0].ID != amd.ID || page.Jobs[5].ID != ids[0] || page.NextCursor != "" {
		t.Fatalf("newest first: got %d jobs, first %s", len(page.Jobs), page.Jobs[0].ID)
	}
	// Pages of two, by cursor.
	var seen []string
	cursor := ""
	for range 4 {
		var p apiv1.JobList
		e.must(http.StatusOK, submitterA, "GET", "/v1/jobs?type=script&limit=2&cursor="+cursor, nil, &p)
		for _, j := range p.Jobs {
			seen = append(seen, j.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(seen, ",") != strings.Join([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}, ",") {
		t.Fatalf("paged %v, want newest first %v", seen, ids)
	}
	for query, want := range map[string]int{"status=queued": 6, "status=running": 0, "pool=amd64": 1, "type=binary-build": 1, "pool=default&type=script": 5} {
		var p apiv1.JobList
		e.must(http.StatusOK, admin, "GET", "/v1/jobs?"+query, nil, &p)
		if len(p.Jobs) != want || p.Jobs == nil {
			t.Errorf("%s: %d jobs, want %d", query, len(p.Jobs), want)
		}
	}
	for query, field := range map[string]string{
		"status=lost": "status", "limit=x": "limit", "limit=501": "limit", "limit=-1": "limit",
		"cursor=zzz": "cursor", "type=nope": "type", "pool=Bad!": "pool", "colour=red": "colour", "limit=1&limit=2": "limit",
	} {
		w := e.do(admin, "GET", "/v1/jobs?"+query, nil)
		expectError(t, w, http.StatusBadRequest, farm.EInvalid, field)
	}
}

func TestGetJobAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.submit(submitterA, "echo")
	// No builder serves the pool: no estimate.
	if got := e.getJob(job.ID); got.EstimatedStartAt != nil || got.ID != job.ID {
		t.Fatalf("job %+v", got)
	}
	e.register(builder1, "b1")
	got := e.getJob(job.ID)
	if got.EstimatedStartAt == nil {
		t.Fatal("a queued job with a builder has an estimated start")
	}
	// Ids are case-insensitive.
	e.must(http.StatusOK, submitterB, "GET", "/v1/jobs/"+strings.ToLower(job.ID), nil, nil)

	var events apiv1.EventList
	e.must(http.StatusOK, builder2, "GET", "/v1/jobs/"+job.ID+"/events", nil, &events)
	if len(events.Events) != 1 || events.Events[0].To != farm.StatusQueued || events.Events[0].Actor != e.actors[submitterA] {
		t.Fatalf("events %+v", events)
	}

	for _, path := range []string{"/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/v1/jobs/not-a-ulid", "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/events", "/v1/jobs/x/events", "/v1/jobs/x/log"} {
		expectError(t, e.do(admin, "GET", path, nil), http.StatusNotFound, farm.ENotFound, "")
	}
}

func TestCancelAndRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	queued := e.submit(submitterA, "sleep 1")
	var job farm.Job

	expectError(t, e.do(submitterB, "POST", "/v1/jobs/"+queued.ID+"/cancel", nil), http.StatusForbidden, farm.EForbidden, "")
	expectError(t, e.do(submitterA, "POST", "/v1/jobs/"+queued.ID+"/cancel", `{"why":"x"}`), http.StatusBadRequest, farm.EInvalid, "why")
	expectError(t, e.do(submitterA, "POST", "/v1/jobs/"+queued.ID+"/retry", nil), http.StatusConflict, farm.EConflict, "")
	e.must(http.StatusOK, submitterA, "POST", "/v1/jobs/"+queued.ID+"/cancel", `{}`, &job)
	if job.Status != farm.StatusCancelled {
		t.Fatalf("cancelled queued job is %s", job.Status)
	}
	expectError(t, e.do(submitterA, "POST", "/v1/jobs/"+queued.ID+"/cancel", nil), http.StatusConflict, farm.EConflict, "")
	e.must(http.StatusOK, admin, "POST", "/v1/jobs/"+queued.ID+"/retry", nil, &job)
	if job.Status != farm.StatusQueued || job.Attempts != 0 {
		t.Fatalf("retried job %+v", job)
	}

	// The retried job runs again; cancelling it now waits for its builder.
	if c := e.claim(); c.Job.ID != queued.ID {
		t.Fatalf("claimed %s, want the retried %s", c.Job.ID, queued.ID)
	}
	e.must(http.StatusOK, submitterA, "POST", "/v1/jobs/"+queued.ID+"/cancel", nil, &job)
	if job.Status != farm.StatusCancelling {
		t.Fatalf("cancelled running job is %s, want cancelling", job.Status)
	}
	// Asking again while cancelling changes nothing.
	e.must(http.StatusOK, admin, "POST", "/v1/jobs/"+queued.ID+"/cancel", nil, &job)
	if job.Status != farm.StatusCancelling {
		t.Fatalf("second cancel: %s", job.Status)
	}
	expectError(t, e.do(submitterA, "POST", "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", nil), http.StatusNotFound, farm.ENotFound, "")
}

func TestScoreJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.submit(submitterA, "echo")
	var got farm.Job
	e.must(http.StatusOK, admin, "POST", "/v1/jobs/"+job.ID+"/score", map[string]any{"score": 123456}, &got)
	if got.Score != 123456 || !got.ScorePinned {
		t.Fatalf("job %+v", got)
	}
	expectError(t, e.do(admin, "POST", "/v1/jobs/"+job.ID+"/score", `{}`), http.StatusBadRequest, farm.EInvalid, "score")
	expectError(t, e.do(admin, "POST", "/v1/jobs/"+job.ID+"/score", `{"score":99999999999}`), http.StatusBadRequest, farm.EInvalid, "score")
	expectError(t, e.do(admin, "POST", "/v1/jobs/"+job.ID+"/score", `{"score":1.5}`), http.StatusBadRequest, farm.EInvalid, "score")
	expectError(t, e.do(admin, "POST", "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/score", `{"score":1}`), http.StatusNotFound, farm.ENotFound, "")
	e.must(http.StatusOK, admin, "POST", "/v1/jobs/"+job.ID+"/cancel", nil, nil)
	expectError(t, e.do(admin, "POST", "/v1/jobs/"+job.ID+"/score", `{"score":1}`), http.StatusConflict, farm.EConflict, "")
}

func TestQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	e.submit(submitterA, "echo 1")
	e.submit(submitterA, "echo 2")
	e.claim()
	var q apiv1.QueueSummary
	e.must(http.StatusOK, submitterB, "GET", "/v1/queue", nil, &q)
	if len(q.Pools) != 2 {
		t.Fatalf("pools %+v", q.Pools)
	}
	for _, p := range q.Pools {
		switch p.Pool {
		case "default":
			if p.Queued != 1 || p.Running != 1 || p.BuildersBusy != 1 || p.Slots != 2 || p.EstimatedStartAt == nil {
				t.Errorf("default pool %+v", p)
			}
		case "amd64":
			if p.Queued != 0 || p.BuildersIdle+p.BuildersBusy != 0 {
				t.Errorf("amd64 pool %+v", p)
			}
		default:
			t.Errorf("unexpected pool %q", p.Pool)
		}
	}
}
