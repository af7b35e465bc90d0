package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A submitter cannot buy a higher score: private archives, archive scores
// and priorities beyond ±1000 are an admin's, and refused with 403 naming
// the field, changing nothing.
func TestSubmittersCannotBuyScore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	build := func(payload string, priority *int64) apiv1.SubmitJobRequest {
		return apiv1.SubmitJobRequest{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(payload), Priority: priority}
	}
	p := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		req   apiv1.SubmitJobRequest
		field string
	}{
		{build(`{"package":"hello","private":true}`, nil), "payload.private"},
		{build(`{"package":"hello","archive_score":100000}`, nil), "payload.archive_score"},
		{apiv1.SubmitJobRequest{Type: farm.TypeLiveImageBuild, Payload: json.RawMessage(`{"project":"ubuntu","series":"noble","private":true}`)}, "payload.private"},
		{build(`{"package":"hello"}`, p(admission.MaxSubmitterPriority+1)), "priority"},
		{build(`{"package":"hello"}`, p(-admission.MaxSubmitterPriority-1)), "priority"},
		// Nor through a follow-on the payload declares.
		{apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true","then":[{"type":"binary-build","payload":{"package":"x","private":true}}]}`)}, "payload.then[0]"},
		{apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true","then":[{"type":"script","payload":{"script":"x"},"priority":5000}]}`)}, "payload.then[0]"},
	} {
		expectError(t, e.do(submitterA, "POST", "/v1/jobs", tc.req), http.StatusForbidden, farm.EForbidden, tc.field)
	}
	if list := e.listJobs(admin, "limit=10"); len(list.Jobs) != 0 {
		t.Fatalf("refused submits stored %d jobs", len(list.Jobs))
	}
	// Within the documented range a submitter sets its priority; an admin
	// has the wider one and the privileged inputs.
	var j farm.Job
	e.must(http.StatusCreated, submitterA, "POST", "/v1/jobs", build(`{"package":"hello","pocket":"security"}`, p(admission.MaxSubmitterPriority)), &j)
	if want := int64(4500 + 1000 + 10 + admission.MaxSubmitterPriority); j.Score != want {
		t.Fatalf("submitter's score %d, want %d", j.Score, want)
	}
	e.must(http.StatusCreated, admin, "POST", "/v1/jobs", build(`{"package":"hello","private":true,"archive_score":50}`, p(5000)), &j)
	if want := int64(1500 + 1000 + 10 + 50 + farm.PrivateArchiveBonus + 5000); j.Score != want {
		t.Fatalf("admin's score %d, want %d", j.Score, want)
	}
	expectError(t, e.do(admin, "POST", "/v1/jobs", build(`{"package":"hello"}`, p(admission.MaxPriority+1))), http.StatusBadRequest, farm.EInvalid, "priority")
}

// The payload limit holds on the form the job is stored in: 240 KiB of
// '<' is taken and kept as sent, and a payload that only grows past the
// limit when encoded is a 400, never a 5xx.
func TestPayloadLimitOnTheStoredForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := func(value string) string {
		return `{"type":"script","payload":{"script":"true","env":{"DATA":"` + value + `"}}}`
	}
	var j farm.Job
	e.must(http.StatusCreated, submitterA, "POST", "/v1/jobs", body(strings.Repeat("<", 240<<10)), &j)
	stored, err := e.store.GetJob(context.Background(), j.ID)
	if err != nil || len(stored.Payload) > admission.MaxPayloadBytes {
		t.Fatalf("stored %d bytes, %v", len(stored.Payload), err)
	}
	expectError(t, e.do(submitterA, "POST", "/v1/jobs", body(strings.Repeat("\u2028", 80<<10))), http.StatusBadRequest, farm.EInvalid, "payload")
}

// A listing whose filter few jobs match reads a bounded part of its index
// per call and says where to go on.
func TestFilteredListingIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	var match string
	for i := range store.DefaultListScan + 50 {
		pool := "default"
		if i == 0 {
			pool = "amd64" // the oldest job is the only match
		}
		id := farm.NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if i == 0 {
			match = id
		}
		j := &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: pool, Payload: json.RawMessage(`{"script":"true"}`),
			RequestedBy: "test", CreatedAt: t0, MaxAttempts: 1, TimeoutSeconds: 60, Version: 1}
		if err := e.store.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: j}}}); err != nil {
			t.Fatal(err)
		}
	}
	first := e.listJobs(submitterB, "status=queued&pool=amd64&limit=1")
	if len(first.Jobs) != 0 || first.NextCursor == "" {
		t.Fatalf("first page: %d jobs, cursor %q: want none yet and a cursor to go on", len(first.Jobs), first.NextCursor)
	}
	next := e.listJobs(submitterB, "status=queued&pool=amd64&limit=1&cursor="+first.NextCursor)
	if len(next.Jobs) != 1 || next.Jobs[0].ID != match || next.NextCursor != "" {
		t.Fatalf("second page: %+v, cursor %q", next.Jobs, next.NextCursor)
	}
	// A pool nobody runs: empty pages of at most the scan bound each
	// (the listing index filters on the pool), then the end.
	none := e.listJobs(submitterB, "pool=zzz&limit=1")
	if len(none.Jobs) != 0 || none.NextCursor == "" {
		t.Fatalf("pool zzz, first page: %+v", none)
	}
	if rest := e.listJobs(submitterB, "pool=zzz&limit=1&cursor="+none.NextCursor); len(rest.Jobs) != 0 || rest.NextCursor != "" {
		t.Fatalf("pool zzz, second page: %+v", rest)
	}
}
