package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
)

// accessFixture is a farm with a job running on b1 (submitted by
// submitter A), a queued job and a cancelled job of A, a succeeded job
// {done} with the artifact out/report.txt, and builders b1, b2;
// and a resource pool ppas whose resource {held} submitter A acquired under
// {lease}, and whose resource r1 is free.
type accessFixture struct {
	running, token, queued, cancelled, done string
	held, lease                             string
	// tokenID is a spare submitter token's, for revoking.
	tokenID string
}

func newAccessFixture(e *env) accessFixture {
	e.t.Helper()
	spec := map[string]any{"kind": "ec2", "arch": "amd64", "pools": []string{"default"}, "slots": 4}
	e.must(http.StatusOK, admin, "PUT", "/v1/builders/b1", spec, nil)
	e.must(http.StatusOK, admin, "PUT", "/v1/builders/b2", spec, nil)
	var f accessFixture
	job, token := e.running("sleep 60")
	f.running, f.token = job.ID, token
	done, doneToken := e.running("echo done")
	e.blobs.Upload(blobs.ArtifactKey(done.ID, done.Run, "out/report.txt"), "report")
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+done.ID+"/complete", map[string]any{"claim_token": doneToken, "result": "succeeded", "artifacts": []string{"out/report.txt"}}, nil)
	f.done = done.ID
	f.queued = e.submit(submitterA, "echo queued").ID
	f.cancelled = e.submit(submitterA, "echo cancelled").ID
	e.must(http.StatusOK, submitterA, "POST", "/v1/jobs/"+f.cancelled+"/cancel", nil, nil)
	e.must(http.StatusCreated, admin, "PUT", "/v1/resource-pools/ppas", map[string]any{"description": "test PPAs"}, nil)
	e.must(http.StatusCreated, admin, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "r0"}, nil)
	var acq apiv1.AcquireResponse
	e.must(http.StatusOK, submitterA, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "ci-1"}, &acq)
	f.held, f.lease = acq.Resource.Name, acq.LeaseToken
	e.must(http.StatusCreated, admin, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "r1"}, nil)
	var tok apiv1.TokenResponse
	e.must(http.StatusCreated, admin, "POST", "/v1/tokens", map[string]any{"role": "submitter", "name": "spare"}, &tok)
	f.tokenID = tok.ID
	return f
}

func (f accessFixture) expand(s string) string {
	return strings.NewReplacer("{running}", f.running, "{token}", f.token, "{queued}", f.queued, "{cancelled}", f.cancelled, "{done}", f.done, "{held}", f.held, "{lease}", f.lease, "{tokenid}", f.tokenID).Replace(s)
}

// TestRouteAccess walks every route as every kind of caller and checks who
// is let in (the status of a successful call) and who is refused (401 or
// 403 — also for a builder presenting the claim another builder holds).
func TestRouteAccess(t *testing.T) {
	t.Parallel()
	callers := []string{none, badToken, submitterA, submitterB, builder1, builder2, admin}
	type want [7]int // in the order of callers
	const (
		ok   = http.StatusOK
		made = http.StatusCreated
		gone = http.StatusNoContent
		n401 = http.StatusUnauthorized
		n403 = http.StatusForbidden
	)
	anyRole := want{n401, n401, ok, ok, ok, ok, ok}
	cases := []struct {
		route, path, body string
		want              want
	}{
		{"GET /v1/health", "/v1/health", "", want{ok, ok, ok, ok, ok, ok, ok}},
		{"GET /v1/openapi.json", "/v1/openapi.json", "", want{ok, ok, ok, ok, ok, ok, ok}},
		{"GET /v1/queue", "/v1/queue", "", anyRole},
		{"GET /v1/whoami", "/v1/whoami", "", anyRole},
		{"GET /ui", "/ui", "", want{301, 301, 301, 301, 301, 301, 301}},
		{"GET /ui/{$}", "/ui/", "", want{ok, ok, ok, ok, ok, ok, ok}},
		{"GET /ui/{asset}", "/ui/app.js", "", want{ok, ok, ok, ok, ok, ok, ok}},
		{"GET /v1/jobs/{id}/artifacts", "/v1/jobs/{done}/artifacts", "", anyRole},
		{"GET /v1/jobs/{id}/artifacts/{name...}", "/v1/jobs/{done}/artifacts/out/report.txt", "", want{n401, n401, 307, 307, 307, 307, 307}},
		{"GET /v1/resource-pools", "/v1/resource-pools", "", anyRole},
		{"POST /v1/jobs", "/v1/jobs", `{"type":"script","payload":{"script":"echo"}}`, want{n401, n401, made, made, n403, n403, made}},
		{"GET /v1/jobs", "/v1/jobs", "", anyRole},
		{"GET /v1/jobs/{id}", "/v1/jobs/{running}", "", anyRole},
		{"GET /v1/jobs/{id}/events", "/v1/jobs/{running}/events", "", anyRole},
		{"GET /v1/jobs/{id}/log", "/v1/jobs/{running}/log", "", anyRole},
		{"POST /v1/jobs/{id}/cancel", "/v1/jobs/{queued}/cancel", "", want{n401, n401, ok, n403, n403, n403, ok}},
		{"POST /v1/jobs/{id}/retry", "/v1/jobs/{cancelled}/retry", "", want{n401, n401, ok, n403, n403, n403, ok}},
		{"POST /v1/jobs/{id}/score", "/v1/jobs/{queued}/score", `{"score":5}`, want{n401, n401, n403, n403, n403, n403, ok}},
		{"PUT /v1/builders/{name}", "/v1/builders/b1", `{"kind":"ec2","arch":"amd64","pools":["default"],"slots":4}`, want{n401, n401, n403, n403, ok, n403, ok}},
		{"GET /v1/builders", "/v1/builders", "", anyRole},
		{"GET /v1/builders/{name}", "/v1/builders/b1", "", anyRole},
		{"POST /v1/builders/{name}/disable", "/v1/builders/b1/disable", `{"reason":"test"}`, want{n401, n401, n403, n403, n403, n403, ok}},
		{"POST /v1/builders/{name}/enable", "/v1/builders/b1/enable", `{"reason":"test"}`, want{n401, n401, n403, n403, n403, n403, ok}},
		{"POST /v1/builders/{name}/claim", "/v1/builders/b1/claim", `{"pool":"default"}`, want{n401, n401, n403, n403, ok, n403, ok}},
		{"POST /v1/builders/{name}/heartbeat", "/v1/builders/b1/heartbeat", `{"jobs":[{"id":"{running}","claim_token":"{token}"}]}`, want{n401, n401, n403, n403, ok, n403, ok}},
		// b2 presenting b1's claim token acts for b1: refused.
		{"POST /v1/jobs/{id}/artifacts", "/v1/jobs/{running}/artifacts", `{"claim_token":"{token}","name":"out.tar"}`, want{n401, n401, n403, n403, ok, n403, ok}},
		{"POST /v1/jobs/{id}/complete", "/v1/jobs/{running}/complete", `{"claim_token":"{token}","result":"succeeded"}`, want{n401, n401, n403, n403, ok, n403, ok}},
		{"POST /v1/jobs/{id}/release", "/v1/jobs/{running}/release", `{"claim_token":"{token}","reason":"spot interruption"}`, want{n401, n401, n403, n403, ok, n403, ok}},
		// Public: the signed identity document is the credential; this one is not signed.
		{"POST /v1/instance-tokens", "/v1/instance-tokens", `{"document":"{\"instanceId\":\"i-1\"}","signature":"AAAA","nonce":"0123456789abcdef0123456789abcdef"}`, want{n401, n401, n401, n401, n401, n401, n401}},
		{"POST /v1/tokens", "/v1/tokens", `{"role":"submitter"}`, want{n401, n401, n403, n403, n403, n403, made}},
		{"GET /v1/tokens", "/v1/tokens", "", want{n401, n401, n403, n403, n403, n403, ok}},
		{"DELETE /v1/tokens/{id}", "/v1/tokens/{tokenid}", "", want{n401, n401, n403, n403, n403, n403, gone}},
		{"PUT /v1/resource-pools/{pool}", "/v1/resource-pools/ppas", `{"lease_seconds":60}`, want{n401, n401, n403, n403, n403, n403, ok}},
		{"GET /v1/resource-pools/{pool}", "/v1/resource-pools/ppas", "", anyRole},
		{"POST /v1/resource-pools/{pool}/resources", "/v1/resource-pools/ppas/resources", `{"name":"r2"}`, want{n401, n401, n403, n403, n403, n403, made}},
		{"POST /v1/resource-pools/{pool}/acquire", "/v1/resource-pools/ppas/acquire", `{"holder":"ci-2"}`, want{n401, n401, ok, ok, n403, n403, ok}},
		// Only the principal that acquired it (A) or an admin releases; B is refused even with the token.
		{"POST /v1/resource-pools/{pool}/resources/{name}/release", "/v1/resource-pools/ppas/resources/{held}/release", `{"lease_token":"{lease}"}`, want{n401, n401, ok, n403, n403, n403, ok}},
	}

	// Every route is walked.
	routes := map[string]bool{}
	for _, r := range newEnv(t).srv.Routes() {
		routes[r] = true
	}
	for _, c := range cases {
		if !routes[c.route] {
			t.Errorf("case for %s, which is not a route", c.route)
		}
		delete(routes, c.route)
	}
	for r := range routes {
		t.Errorf("route %s has no access case", r)
	}

	for _, c := range cases {
		for i, who := range callers {
			t.Run(fmt.Sprintf("%s as %s", c.route, who), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				f := newAccessFixture(e)
				method, _, _ := strings.Cut(c.route, " ")
				var body any
				if c.body != "" {
					body = f.expand(c.body)
				}
				w := e.do(who, method, f.expand(c.path), body)
				if w.Code != c.want[i] {
					t.Fatalf("%d %s, want %d", w.Code, w.Body, c.want[i])
				}
				if w.Code >= 400 {
					d := errorOf(t, w)
					wantCode := map[int]string{n401: "unauthorized", n403: "forbidden"}[w.Code]
					if d.Code != wantCode {
						t.Fatalf("code %s, want %s", d.Code, wantCode)
					}
				}
			})
		}
	}
}

// A builder token cannot read another builder's claim by guessing: even with
// the right claim token, heartbeat as b1 is refused to b2's token.
func TestBuilderTokenActsOnlyAsItself(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := newAccessFixture(e)
	expectError(t, e.do(builder2, "POST", "/v1/builders/b1/heartbeat", f.expand(`{"jobs":[{"id":"{running}","claim_token":"{token}"}]}`)), http.StatusForbidden, "forbidden", "")
	// b2 heartbeating the job under its own name does not renew b1's lease.
	var hb apiv1.HeartbeatConflict
	w := e.do(builder2, "POST", "/v1/builders/b2/heartbeat", f.expand(`{"jobs":[{"id":"{running}","claim_token":"{token}"}]}`))
	if w.Code != http.StatusConflict {
		t.Fatalf("b2 heartbeat of b1's job: %d %s", w.Code, w.Body)
	}
	decodeInto(t, w, &hb)
	if len(hb.Directives) != 1 || hb.Directives[0].Action != apiv1.ActionCancel {
		t.Fatalf("directives %+v", hb.Directives)
	}
	// Nor can b2 finish b1's job, or upload for it, with b1's claim token.
	expectError(t, e.do(builder2, "POST", "/v1/jobs/"+f.running+"/complete", f.expand(`{"claim_token":"{token}","result":"failed"}`)), http.StatusForbidden, "forbidden", "")
	expectError(t, e.do(builder2, "POST", "/v1/jobs/"+f.running+"/artifacts", f.expand(`{"claim_token":"{token}","kind":"log"}`)), http.StatusForbidden, "forbidden", "")
	if job := e.getJob(f.running); job.Status != "running" || job.Builder != "b1" {
		t.Fatalf("b1's job after b2's attempts: %s on %s", job.Status, job.Builder)
	}
}
