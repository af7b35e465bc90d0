package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/openapitest"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	ctx := context.Background()
	doc, err := openapitest.Document(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	return doc
}

func docRoutes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIMatchesRoutes keeps the document and the router in step: every
// routed pattern is documented and every documented operation is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	var routes []string
	for _, r := range newEnv(t).srv.Routes() {
		routes = append(routes, documentedPath(r))
	}
	slices.Sort(routes)
	documented := docRoutes(doc)
	if strings.Join(routes, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("router and OpenAPI document differ:\nrouted:\n  %s\ndocumented:\n  %s", strings.Join(routes, "\n  "), strings.Join(documented, "\n  "))
	}
	// Everything but health, the document itself and instance tokens (the
	// signed identity document is their credential) needs the bearer token.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			if want := path == "/v1/health" || path == "/v1/openapi.json" || path == "/v1/instance-tokens" || path == "/ui" || strings.HasPrefix(path, "/ui/"); public != want {
				t.Errorf("%s %s: public = %v", method, path, public)
			}
		}
	}
	if doc.Components.SecuritySchemes["bearer"] == nil || len(doc.Security) != 1 {
		t.Error("the document must declare the bearer security scheme as the default")
	}
}

// documentedPath writes a ServeMux pattern as OpenAPI writes the path:
// "/ui/{$}" (exactly /ui/) is "/ui/", and a trailing wildcard {name...}
// (a name with slashes) is the parameter {name}.
func documentedPath(route string) string {
	route = strings.TrimSuffix(route, "{$}")
	if i := strings.LastIndex(route, "...}"); i >= 0 && i == len(route)-4 {
		route = route[:i] + "}"
	}
	return route
}

func TestServedOpenAPIIsTheDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.must(http.StatusOK, none, "GET", "/v1/openapi.json", nil, nil)
	if w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("Content-Type %q", w.Header().Get("Content-Type"))
	}
	served, err := openapi3.NewLoader().LoadFromData(w.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := served.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := docRoutes(served), docRoutes(loadDoc(t)); !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
}

// validator checks real requests and answers against the document.
type validator struct {
	t      *testing.T
	e      *env
	router routers.Router
}

// The page's files are text to the validator, like the log.
func init() {
	asText := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "image/svg+xml"} {
		openapi3filter.RegisterBodyDecoder(ct, asText)
	}
}

func newValidator(t *testing.T, e *env) *validator {
	doc := loadDoc(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, e: e, router: router}
}

// call sends a request as who and validates it (unless it is meant to be
// invalid) and its answer.
func (v *validator) call(who, method, path string, body any, validRequest bool, wantStatus int, out any) *httptest.ResponseRecorder {
	v.t.Helper()
	ctx := context.Background()
	req := request(method, path, v.e.tokens[who], body)
	var raw []byte
	if req.Body != nil {
		raw, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(raw))
	}
	w := v.e.serve(req)
	if w.Code != wantStatus {
		v.t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body, wantStatus)
	}

	check := httptest.NewRequest(method, "http://farm.test"+path, bytes.NewReader(raw))
	check.Header = req.Header.Clone()
	route, params, err := v.router.FindRoute(check)
	if err != nil {
		v.t.Fatalf("%s %s: not in the document: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if validRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			v.t.Fatalf("%s %s: request does not match the document: %v", method, path, err)
		}
	}
	resp := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code, Header: w.Header(), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	resp.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, resp); err != nil {
		v.t.Fatalf("%s %s: %d answer does not match the document: %v\n%s", method, path, w.Code, err, w.Body)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			v.t.Fatal(err)
		}
	}
	return w
}

// TestRealCallsMatchOpenAPI runs a job's life through the API and validates
// every request and answer against the document.
func TestRealCallsMatchOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := newValidator(t, e)
	const ok, made = http.StatusOK, http.StatusCreated

	v.call(none, "GET", "/v1/health", nil, true, ok, nil)
	var tok apiv1.TokenResponse
	v.call(admin, "POST", "/v1/tokens", map[string]string{"role": "builder", "builder": "b1", "name": "test"}, true, made, &tok)
	v.call(builder1, "PUT", "/v1/builders/b1", map[string]any{"kind": "ec2", "arch": "amd64", "pools": []string{"default"}, "slots": 2, "metadata": map[string]string{"az": "a"}}, true, ok, nil)
	v.call(submitterA, "GET", "/v1/builders", nil, true, ok, nil)
	v.call(submitterA, "GET", "/v1/builders/b1", nil, true, ok, nil)
	var job farm.Job
	v.call(submitterA, "POST", "/v1/jobs", map[string]any{"type": "script", "payload": map[string]any{"script": "echo hi"}, "priority": 3, "idempotency_key": "k"}, true, made, &job)
	v.call(submitterA, "POST", "/v1/jobs", map[string]any{"type": "script", "payload": map[string]any{"script": "echo hi"}, "priority": 3, "idempotency_key": "k"}, true, ok, nil)
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID, nil, true, ok, nil)
	v.call(submitterB, "GET", "/v1/jobs?status=queued&limit=1", nil, true, ok, nil)
	v.call(submitterB, "GET", "/v1/queue", nil, true, ok, nil)
	v.call(admin, "POST", "/v1/jobs/"+job.ID+"/score", map[string]any{"score": 10}, true, ok, nil)

	var c apiv1.ClaimResponse
	v.call(builder1, "POST", "/v1/builders/b1/claim", map[string]string{"pool": "default"}, true, ok, &c)
	v.call(builder1, "POST", "/v1/builders/b1/claim", map[string]string{"pool": "default"}, true, http.StatusNoContent, nil)
	if c.LogUpload == nil || c.LogUpload.Method != http.MethodPut {
		t.Fatalf("the claim carries no log upload: %+v", c.LogUpload)
	}
	v.call(builder1, "POST", "/v1/builders/b1/heartbeat", map[string]any{"jobs": []map[string]any{{"id": job.ID, "claim_token": c.ClaimToken, "log": "hi\n", "log_offset": 0}}}, true, ok, nil)
	v.call(builder1, "POST", "/v1/builders/b1/heartbeat", map[string]any{"jobs": []map[string]string{{"id": job.ID, "claim_token": "stale"}}}, true, http.StatusConflict, nil)
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/log", nil, true, ok, nil)
	v.call(builder1, "POST", "/v1/jobs/"+job.ID+"/artifacts", map[string]string{"claim_token": c.ClaimToken, "name": "out.txt"}, true, ok, nil)
	e.blobs.Upload("artifacts/"+job.ID+"/1/out.txt", "out")
	e.blobs.Upload("artifacts/"+job.ID+"/1/dist/b.bin", "b")
	v.call(builder1, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": c.ClaimToken, "result": "failed", "exit_code": 1, "error": "exit status 1",
		"artifacts": []any{map[string]any{"name": "out.txt", "sha256": strings.Repeat("1", 64), "size": 3}, map[string]string{"name": "dist/b.bin", "sha256": strings.Repeat("0", 64)}},
		"log":       "hi\nbye\n", "log_complete": true}, true, ok, nil)
	var list apiv1.ArtifactList
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts", nil, true, ok, &list)
	if len(list.Artifacts) != 2 || list.Artifacts[0].Name != "dist/b.bin" || list.Artifacts[1].Attempt != 1 || list.Artifacts[1].SHA256 == "" {
		t.Fatalf("artifacts %+v", list)
	}
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts/out.txt", nil, true, http.StatusTemporaryRedirect, nil)
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts/out.txt?redirect=false&attempt=1", nil, true, ok, nil)
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts/nope.txt", nil, true, http.StatusNotFound, nil)
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts/out.txt?attempt=2", nil, true, http.StatusNotFound, nil)
	v.call(submitterB, "GET", "/v1/jobs/"+job.ID+"/artifacts/out.txt?redirect=maybe", nil, false, http.StatusBadRequest, nil)
	v.call(submitterA, "GET", "/v1/whoami", nil, true, ok, nil)
	v.call(builder1, "GET", "/v1/whoami", nil, true, ok, nil)
	v.call(admin, "GET", "/v1/jobs?requested_by="+e.actors[submitterA], nil, true, ok, nil)
	v.call(admin, "GET", "/v1/resource-pools", nil, true, ok, nil)
	v.call(none, "GET", "/ui/", nil, true, ok, nil)
	v.call(none, "GET", "/ui/app.css", nil, true, ok, nil)
	v.call(none, "GET", "/ui/nope.js", nil, true, http.StatusNotFound, nil)
	v.call(submitterA, "GET", "/v1/jobs/"+job.ID+"/events", nil, true, ok, nil)
	v.call(submitterA, "GET", "/v1/jobs/"+job.ID+"/log", nil, true, ok, nil)
	v.call(submitterA, "POST", "/v1/jobs/"+job.ID+"/retry", nil, true, ok, nil)
	v.call(submitterA, "POST", "/v1/jobs/"+job.ID+"/cancel", nil, true, ok, nil)
	v.call(admin, "POST", "/v1/builders/b1/disable", map[string]string{"reason": "maintenance"}, true, ok, nil)
	v.call(admin, "POST", "/v1/builders/b1/enable", nil, true, ok, nil)

	// Refusals answer the documented error body.
	v.call(none, "GET", "/v1/queue", nil, false, http.StatusUnauthorized, nil)
	v.call(submitterA, "POST", "/v1/jobs", `{"type":"script","payload":{}}`, true, http.StatusBadRequest, nil)
	v.call(submitterA, "POST", "/v1/jobs", `{"type":"script","payload":{"script":"x"},"nope":1}`, false, http.StatusBadRequest, nil)
	v.call(submitterB, "POST", "/v1/jobs/"+job.ID+"/cancel", nil, true, http.StatusForbidden, nil)
	v.call(admin, "GET", "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil, true, http.StatusNotFound, nil)
	v.call(admin, "POST", "/v1/jobs/"+job.ID+"/cancel", nil, true, http.StatusConflict, nil)
	v.call(admin, "GET", "/v1/openapi.json", nil, true, ok, nil)
}

// TestResourcePoolCallsMatchOpenAPI runs a resource round its cycle through
// the API and validates every request and answer against the document.
func TestResourcePoolCallsMatchOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := newValidator(t, e)
	const ok, made = http.StatusOK, http.StatusCreated

	v.call(admin, "PUT", "/v1/resource-pools/ppas", map[string]any{"description": "test PPAs", "clean_script": "rm -rf /srv/ppa/*"}, true, made, nil)
	v.call(admin, "PUT", "/v1/resource-pools/ppas", map[string]any{"lease_seconds": 600}, true, ok, nil)
	v.call(admin, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "ppa-1", "attributes": map[string]string{"url": "ppa:test/1"}}, true, made, nil)
	v.call(submitterB, "GET", "/v1/resource-pools/ppas", nil, true, ok, nil)
	var acq apiv1.AcquireResponse
	v.call(submitterA, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "ci-1", "lease_seconds": 60}, true, ok, &acq)
	v.call(builder1, "GET", "/v1/resource-pools/ppas", nil, true, ok, nil)
	release := "/v1/resource-pools/ppas/resources/" + acq.Resource.Name + "/release"
	v.call(submitterB, "POST", release, map[string]string{"lease_token": acq.LeaseToken}, true, http.StatusForbidden, nil)
	var rel farm.Resource
	v.call(submitterA, "POST", release, map[string]string{"lease_token": acq.LeaseToken}, true, ok, &rel)
	if rel.State != farm.ResourceDirty || rel.CleanJobID == "" {
		t.Fatalf("released %+v", rel)
	}
	v.call(admin, "GET", "/v1/resource-pools/ppas", nil, true, ok, nil)

	// Refusals answer the documented error body.
	v.call(admin, "PUT", "/v1/resource-pools/Bad_Pool", map[string]any{}, true, http.StatusBadRequest, nil)
	v.call(admin, "PUT", "/v1/resource-pools/ppas", `{"lease_seconds":60,"nope":1}`, false, http.StatusBadRequest, nil)
	v.call(submitterA, "PUT", "/v1/resource-pools/ppas", map[string]any{}, true, http.StatusForbidden, nil)
	v.call(admin, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "ppa-1"}, true, http.StatusConflict, nil)
	v.call(admin, "POST", "/v1/resource-pools/nope/resources", map[string]any{"name": "x"}, true, http.StatusNotFound, nil)
	v.call(admin, "GET", "/v1/resource-pools/nope", nil, true, http.StatusNotFound, nil)
	v.call(submitterA, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "ci-2"}, true, http.StatusConflict, nil)
	v.call(submitterA, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{}, false, http.StatusBadRequest, nil)
	v.call(builder1, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "b1"}, true, http.StatusForbidden, nil)
	v.call(submitterA, "POST", release, map[string]string{"lease_token": acq.LeaseToken}, true, http.StatusConflict, nil)
	v.call(submitterA, "POST", "/v1/resource-pools/ppas/resources/nope/release", map[string]string{"lease_token": "x"}, true, http.StatusNotFound, nil)
}
