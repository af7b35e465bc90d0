package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is one request the fake farm received.
type seen struct {
	Method, Path, Query, Auth, IdempotencyKey, ContentType string
	Body                                                   []byte
}

// recorder is a fake farm that records requests and answers with a handler.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request reached the fake farm")
	}
	return r.reqs[len(r.reqs)-1]
}

func newFarm(t *testing.T, answer http.HandlerFunc) (*client.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), IdempotencyKey: r.Header.Get("Idempotency-Key"),
			ContentType: r.Header.Get("Content-Type"), Body: body,
		})
		rec.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/v1/", "secret-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTPClient().CloseIdleConnections)
	return c, rec
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func TestEveryRouteSendsItsMethodPathAndToken(t *testing.T) {
	t.Parallel()
	c, rec := newFarm(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
	ctx := context.Background()
	cases := []struct {
		name, method, path string
		call               func() error
	}{
		{"health", "GET", "/v1/health", func() error { _, err := c.Health(ctx); return err }},
		{"openapi", "GET", "/v1/openapi.json", func() error { _, err := c.OpenAPI(ctx); return err }},
		{"submit", "POST", "/v1/jobs", func() error {
			_, _, err := c.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: "script", Payload: json.RawMessage(`{"script":"true"}`)}, "")
			return err
		}},
		{"get job", "GET", "/v1/jobs/01J", func() error { _, err := c.GetJob(ctx, "01J"); return err }},
		{"list jobs", "GET", "/v1/jobs", func() error { _, err := c.ListJobs(ctx, client.ListJobsOptions{}); return err }},
		{"events", "GET", "/v1/jobs/01J/events", func() error { _, err := c.JobEvents(ctx, "01J"); return err }},
		{"log", "GET", "/v1/jobs/01J/log", func() error { _, err := c.JobLog(ctx, "01J"); return err }},
		{"cancel", "POST", "/v1/jobs/01J/cancel", func() error { _, err := c.CancelJob(ctx, "01J"); return err }},
		{"retry", "POST", "/v1/jobs/01J/retry", func() error { _, err := c.RetryJob(ctx, "01J"); return err }},
		{"score", "POST", "/v1/jobs/01J/score", func() error { _, err := c.ScoreJob(ctx, "01J", 7); return err }},
		{"complete", "POST", "/v1/jobs/01J/complete", func() error {
			_, err := c.CompleteJob(ctx, "01J", apiv1.CompleteRequest{ClaimToken: "t", Result: "succeeded"})
			return err
		}},
		{"artifacts", "POST", "/v1/jobs/01J/artifacts", func() error {
			_, err := c.ArtifactURL(ctx, "01J", apiv1.ArtifactURLRequest{ClaimToken: "t", Name: "a.deb"})
			return err
		}},
		{"queue", "GET", "/v1/queue", func() error { _, err := c.Queue(ctx); return err }},
		{"whoami", "GET", "/v1/whoami", func() error { _, err := c.WhoAmI(ctx); return err }},
		{"list artifacts", "GET", "/v1/jobs/01J/artifacts", func() error { _, err := c.ListArtifacts(ctx, "01J"); return err }},
		{"artifact download", "GET", "/v1/jobs/01J/artifacts/out/a%20b.deb", func() error { _, err := c.ArtifactDownload(ctx, "01J", "out/a b.deb", 2); return err }},
		{"list pools", "GET", "/v1/resource-pools", func() error { _, err := c.ListResourcePools(ctx); return err }},
		{"register", "PUT", "/v1/builders/b1", func() error {
			_, err := c.RegisterBuilder(ctx, "b1", farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}})
			return err
		}},
		{"get builder", "GET", "/v1/builders/b1", func() error { _, err := c.GetBuilder(ctx, "b1"); return err }},
		{"list builders", "GET", "/v1/builders", func() error { _, err := c.ListBuilders(ctx); return err }},
		{"claim", "POST", "/v1/builders/b1/claim", func() error { _, err := c.Claim(ctx, "b1", apiv1.ClaimRequest{Pool: "default"}); return err }},
		{"heartbeat", "POST", "/v1/builders/b1/heartbeat", func() error {
			_, err := c.Heartbeat(ctx, "b1", apiv1.HeartbeatRequest{})
			return err
		}},
		{"disable", "POST", "/v1/builders/b1/disable", func() error { _, err := c.DisableBuilder(ctx, "b1", "broken disk"); return err }},
		{"enable", "POST", "/v1/builders/b1/enable", func() error { _, err := c.EnableBuilder(ctx, "b1", "fixed"); return err }},
		{"token", "POST", "/v1/tokens", func() error { _, err := c.CreateToken(ctx, apiv1.TokenRequest{Role: "submitter"}); return err }},
		{"list tokens", "GET", "/v1/tokens", func() error { _, err := c.ListTokens(ctx); return err }},
		{"revoke token", "DELETE", "/v1/tokens/01TK", func() error { return c.RevokeToken(ctx, "01TK") }},
		{"put pool", "PUT", "/v1/resource-pools/ppas", func() error { _, err := c.PutResourcePool(ctx, "ppas", apiv1.ResourcePoolRequest{}); return err }},
		{"add resource", "POST", "/v1/resource-pools/ppas/resources", func() error {
			_, err := c.AddResource(ctx, "ppas", apiv1.AddResourceRequest{Name: "ppa-1"})
			return err
		}},
		{"get pool", "GET", "/v1/resource-pools/ppas", func() error { _, err := c.GetResourcePool(ctx, "ppas"); return err }},
		{"acquire", "POST", "/v1/resource-pools/ppas/acquire", func() error {
			_, err := c.AcquireResource(ctx, "ppas", apiv1.AcquireRequest{Holder: "me"})
			return err
		}},
		{"release", "POST", "/v1/resource-pools/ppas/resources/ppa-1/release", func() error {
			_, err := c.ReleaseResource(ctx, "ppas", "ppa-1", "lease")
			return err
		}},
	}
	for _, tc := range cases {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := rec.last(t)
		if got.Method != tc.method || got.Path != tc.path {
			t.Errorf("%s: sent %s %s, want %s %s", tc.name, got.Method, got.Path, tc.method, tc.path)
		}
		if got.Auth != "Bearer secret-token" {
			t.Errorf("%s: Authorization %q", tc.name, got.Auth)
		}
		if len(got.Body) > 0 && got.ContentType != "application/json" {
			t.Errorf("%s: body sent as %q", tc.name, got.ContentType)
		}
	}
}

func TestRequestBodiesAndQuery(t *testing.T) {
	t.Parallel()
	c, rec := newFarm(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
	ctx := context.Background()

	if _, err := c.ListJobs(ctx, client.ListJobsOptions{Status: "queued", Type: "script", Pool: "default", Limit: 5, Cursor: "abc"}); err != nil {
		t.Fatal(err)
	}
	if q := rec.last(t).Query; q != "cursor=abc&limit=5&pool=default&status=queued&type=script" {
		t.Errorf("list query %q", q)
	}
	if _, err := c.ScoreJob(ctx, "01J", 0); err != nil {
		t.Fatal(err)
	}
	if b := string(rec.last(t).Body); strings.TrimSpace(b) != `{"score":0}` {
		t.Errorf("score body %s: a zero score must still be sent", b)
	}
	if _, err := c.Heartbeat(ctx, "b1", apiv1.HeartbeatRequest{}); err != nil {
		t.Fatal(err)
	}
	if b := string(rec.last(t).Body); strings.TrimSpace(b) != `{"jobs":[]}` {
		t.Errorf("empty heartbeat body %s, want an empty job list", b)
	}
	// Names are path-escaped, never able to reach another route.
	if _, err := c.GetBuilder(ctx, "a/../b"); err != nil {
		t.Fatal(err)
	}
	if p := rec.last(t).Path; p != "/v1/builders/a%2F..%2Fb" {
		t.Errorf("escaped path %q", p)
	}
}

func TestSubmitSendsIdempotencyKeyAndReportsCreation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	made := map[string]bool{}
	c, rec := newFarm(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		again := made[key]
		made[key] = true
		mu.Unlock()
		status := http.StatusCreated
		if again && key != "" {
			status = http.StatusOK
		}
		writeJSON(w, status, farm.Job{ID: "01JOB", Type: "script", Status: farm.StatusQueued})
	})
	ctx := context.Background()
	req := apiv1.SubmitJobRequest{Type: "script", Payload: json.RawMessage(`{"script":"echo hi"}`)}
	job, created, err := c.SubmitJob(ctx, req, "key-1")
	if err != nil || !created || job.ID != "01JOB" || job.Status != farm.StatusQueued {
		t.Fatalf("first submit: %+v created=%v err=%v", job, created, err)
	}
	if got := rec.last(t).IdempotencyKey; got != "key-1" {
		t.Fatalf("Idempotency-Key header %q", got)
	}
	if _, created, err = c.SubmitJob(ctx, req, "key-1"); err != nil || created {
		t.Fatalf("repeat submit: created=%v err=%v, want the existing job (200)", created, err)
	}
	if _, _, err = c.SubmitJob(ctx, req, ""); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t).IdempotencyKey; got != "" {
		t.Fatalf("no key given, header %q sent", got)
	}
}

func TestErrorsDecodeToFarmErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		status      int
		body        string
		code, field string
		requestID   string
		temporary   bool
	}{
		{"conflict", 409, `{"error":{"code":"conflict","message":"stale claim","request_id":"r-1"}}`, farm.EConflict, "", "r-1", false},
		{"invalid field", 400, `{"error":{"code":"invalid","message":"pools: at least one","field":"pools"}}`, farm.EInvalid, "pools", "", false},
		{"none free", 409, `{"error":{"code":"none_free","message":"no free resource"}}`, farm.ENoneFree, "", "", false},
		{"not found", 404, `{"error":{"code":"not_found","message":"no builder b1"}}`, farm.ENotFound, "", "", false},
		{"proxy page", 502, `<html>bad gateway</html>`, farm.EUnavailable, "", "", true},
		{"empty 500", 500, ``, farm.EInternal, "", "", true},
		{"empty 401", 401, ``, farm.EUnauthorized, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newFarm(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := c.GetJob(context.Background(), "01J")
			if !farm.IsCode(err, tc.code) {
				t.Fatalf("err %v: code %q, want %q", err, farm.ErrorCode(err), tc.code)
			}
			var se *client.StatusError
			if !errors.As(err, &se) || se.Status != tc.status || se.Err.Field != tc.field || se.RequestID != tc.requestID {
				t.Fatalf("err %#v", err)
			}
			if client.StatusOf(err) != tc.status || client.IsTemporary(err) != tc.temporary {
				t.Fatalf("StatusOf %d IsTemporary %v", client.StatusOf(err), client.IsTemporary(err))
			}
		})
	}
}

func TestNetworkErrorsAreTemporary(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := client.New(url, "t")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(context.Background())
	if err == nil || client.StatusOf(err) != 0 || !client.IsTemporary(err) {
		t.Fatalf("closed server: %v (status %d)", err, client.StatusOf(err))
	}
}

func TestClaimNoJobIsNilWithoutError(t *testing.T) {
	t.Parallel()
	c, rec := newFarm(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	got, err := c.Claim(context.Background(), "b1", apiv1.ClaimRequest{Pool: "arm64"})
	if err != nil || got != nil {
		t.Fatalf("204 claim: %+v, %v", got, err)
	}
	if b := strings.TrimSpace(string(rec.last(t).Body)); b != `{"pool":"arm64"}` {
		t.Fatalf("claim body %s", b)
	}
}

func TestClaimDecodesTheJobAndToken(t *testing.T) {
	t.Parallel()
	c, _ := newFarm(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, apiv1.ClaimResponse{Job: &farm.Job{ID: "01J", Type: "script", Attempts: 1}, ClaimToken: "tok", SourceURL: "http://s3/x"})
	})
	got, err := c.Claim(context.Background(), "b1", apiv1.ClaimRequest{Pool: "default"})
	if err != nil || got == nil || got.Job.ID != "01J" || got.ClaimToken != "tok" || got.SourceURL != "http://s3/x" {
		t.Fatalf("claim: %+v, %v", got, err)
	}
}

func TestHeartbeatConflictReturnsDirectivesAndConflict(t *testing.T) {
	t.Parallel()
	c, _ := newFarm(t, func(w http.ResponseWriter, r *http.Request) {
		var body apiv1.HeartbeatConflict
		body.Error = apiv1.ErrorDetail{Code: farm.EConflict, Message: "stale claim for 01OLD"}
		body.Directives = []apiv1.Directive{{JobID: "01OLD", Action: apiv1.ActionCancel, Reason: "lease lost"}}
		body.HeartbeatSeconds = 10
		writeJSON(w, http.StatusConflict, body)
	})
	resp, err := c.Heartbeat(context.Background(), "b1", apiv1.HeartbeatRequest{Jobs: []apiv1.HeartbeatJob{{ID: "01OLD", ClaimToken: "x"}}})
	if !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("err %v, want conflict", err)
	}
	if resp == nil || len(resp.Directives) != 1 || resp.Directives[0].JobID != "01OLD" || resp.Directives[0].Action != "cancel" || resp.HeartbeatSeconds != 10 {
		t.Fatalf("conflict answer %+v", resp)
	}
}

func TestUploadUsesPresignedHeadersAndNoFarmToken(t *testing.T) {
	t.Parallel()
	type put struct {
		method, auth, acl, body string
		length                  int64
	}
	got := make(chan put, 2)
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- put{r.Method, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Acl"), string(b), r.ContentLength}
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "AccessDenied", http.StatusForbidden)
		}
	}))
	t.Cleanup(s3.Close)
	c, err := client.New("https://farm.invalid", "secret-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTPClient().CloseIdleConnections)
	dst := &apiv1.ArtifactURL{Name: "hello", URL: s3.URL + "/artifacts/01J/hello?X-Amz-Signature=abc", Method: "PUT", Headers: map[string]string{"x-amz-acl": "private"}}
	if err := c.Upload(context.Background(), dst, strings.NewReader("binary"), 6); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.method != "PUT" || p.auth != "" || p.acl != "private" || p.body != "binary" || p.length != 6 {
		t.Fatalf("upload sent %+v", p)
	}
	dst.URL = s3.URL + "/x?fail=1"
	err = c.Upload(context.Background(), dst, strings.NewReader(""), 0)
	<-got
	if !farm.IsCode(err, farm.EForbidden) || client.StatusOf(err) != 403 {
		t.Fatalf("refused upload: %v", err)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := client.New(u, "t"); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// A bearer token never crosses a network in plain http: http is for
// loopback only.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://farm.example.com", "http://10.0.0.5:8080", "http://192.168.1.2/v1", "http://127.0.0.1.nip.io", "http://localhost.example.com:8080", "http://[fe80::1]:80"} {
		_, err := client.New(u, "t")
		if err == nil || !strings.Contains(err.Error(), "plain http is allowed to a loopback address only") {
			t.Errorf("New(%q): %v", u, err)
		}
		if client.CheckBaseURL(u) == nil {
			t.Errorf("CheckBaseURL(%q) accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.8.9.1", "http://localhost:8080/v1", "http://LOCALHOST", "http://[::1]:8080", "https://farm.example.com", "https://10.0.0.5:8443"} {
		if _, err := client.New(u, "t"); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}
