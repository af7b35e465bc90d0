package wiring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/openapitest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

const adminToken = "wired-test-admin-token-0123456789"

type client struct {
	t      *testing.T
	base   string
	router routers.Router
}

func newClient(t *testing.T, base string) client {
	doc, err := openapitest.Document(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return client{t: t, base: base, router: router}
}

// validate checks a call and its answer against the OpenAPI document.
func (c client) validate(method, path string, header http.Header, body []byte, status int, respHeader http.Header, resp []byte) {
	c.t.Helper()
	ctx := context.Background()
	req := httptest.NewRequest(method, "http://farm.test"+path, bytes.NewReader(body))
	req.Header = header.Clone()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		c.t.Fatalf("%s %s: request does not match the OpenAPI document: %v", method, path, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: respHeader, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(resp)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Fatalf("%s %s: %d answer does not match the OpenAPI document: %v\n%s", method, path, status, err, resp)
	}
}

// call sends a JSON request with token and decodes a JSON answer into out.
func (c client) call(token, method, path string, body any, want int, out any) http.Header {
	c.t.Helper()
	var reqBody []byte
	if body != nil {
		reqBody, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(reqBody))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	c.validate(method, path, req.Header, reqBody, resp.StatusCode, resp.Header, raw)
	if out != nil {
		if s, ok := out.(*string); ok {
			*s = string(raw)
		} else if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.Header
}

// serveOnEmulator serves the API wired to a freshly provisioned topology on
// the emulator (pool default) and returns a client of it.
func serveOnEmulator(t *testing.T) (client, *topology.Topology, aws.Config, *provision.Result) {
	t.Helper()
	top, cfg, res := emulatortest.Topology(t, "default")
	logger := slog.New(httpapi.ContextHandler(slog.NewJSONHandler(io.Discard, nil)))
	f, err := wiring.New(context.Background(), wiring.Config{Topology: top}, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.API(adminToken)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL), top, cfg, res
}

// TestJobLifeOnTheEmulator runs a job through the API wired to DynamoDB,
// SQS and S3 on the emulator: tokens, registration with real queue URLs, a
// claim with a presigned source, an artifact uploaded through its presigned
// URL, completion recording it, and the log stored in S3.
func TestJobLifeOnTheEmulator(t *testing.T) {
	t.Parallel()
	c, top, cfg, res := serveOnEmulator(t)
	ctx := context.Background()

	var health apiv1.Health
	c.call("", "GET", "/v1/health", nil, 200, &health)
	var sub, bld apiv1.TokenResponse
	c.call(adminToken, "POST", "/v1/tokens", map[string]string{"role": "submitter"}, 201, &sub)
	c.call(adminToken, "POST", "/v1/tokens", map[string]string{"role": "builder", "builder": "w1"}, 201, &bld)

	var reg apiv1.BuilderRegistration
	c.call(bld.Token, "PUT", "/v1/builders/w1", map[string]any{"kind": "ec2", "arch": "amd64", "pools": []string{"default"}}, 200, &reg)
	if want := res.QueueURLs[top.PoolQueues[0].Name]; reg.QueueURLs["default"] != want || want == "" {
		t.Fatalf("queue_urls %v, want default -> %s", reg.QueueURLs, want)
	}

	// The job's source is an upload in the farm's bucket.
	s3c := awsconf.NewS3(cfg)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &top.Bucket.Name, Key: aws.String("incoming/script/build.sh"), Body: strings.NewReader("echo built")}); err != nil {
		t.Fatal(err)
	}
	var job farm.Job
	c.call(sub.Token, "POST", "/v1/jobs", map[string]any{"type": "script", "payload": map[string]any{"source": "s3://" + top.Bucket.Name + "/incoming/script/build.sh"}}, 201, &job)

	var claim apiv1.ClaimResponse
	c.call(bld.Token, "POST", "/v1/builders/w1/claim", map[string]string{"pool": "default"}, 200, &claim)
	if claim.Job.ID != job.ID || claim.SourceURL == "" {
		t.Fatalf("claim %+v", claim)
	}
	src, err := http.Get(claim.SourceURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(src.Body)
	src.Body.Close()
	if src.StatusCode != 200 || string(got) != "echo built" {
		t.Fatalf("source download: %d %q", src.StatusCode, got)
	}

	c.call(bld.Token, "POST", "/v1/builders/w1/heartbeat", map[string]any{"jobs": []map[string]string{{"id": job.ID, "claim_token": claim.ClaimToken, "log": "step 1\n"}}}, 200, nil)

	var up apiv1.ArtifactURL
	c.call(bld.Token, "POST", "/v1/jobs/"+job.ID+"/artifacts", map[string]string{"claim_token": claim.ClaimToken, "name": "out/result.txt"}, 200, &up)
	put, _ := http.NewRequest(up.Method, up.URL, strings.NewReader("result!"))
	for k, v := range up.Headers {
		put.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned upload: %d", resp.StatusCode)
	}

	// The whole log, over 8 KiB: one PUT through the claim's presigned URL.
	whole := "step 1\n" + strings.Repeat("x", 9<<10) + "\nstep 2\n"
	if claim.LogUpload == nil {
		t.Fatal("the claim carries no log upload")
	}
	put, _ = http.NewRequest(claim.LogUpload.Method, claim.LogUpload.URL, strings.NewReader(whole))
	for k, v := range claim.LogUpload.Headers {
		put.Header.Set(k, v)
	}
	if resp, err = http.DefaultClient.Do(put); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned log upload: %d", resp.StatusCode)
	}

	var done farm.Job
	c.call(bld.Token, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": claim.ClaimToken, "result": "succeeded",
		"artifacts": []any{map[string]any{"name": "out/result.txt", "size": 7}}, "log_uploaded": true, "log_size": len(whole)}, 200, &done)
	if done.Status != farm.StatusSucceeded || len(done.Artifacts) != 1 || done.Artifacts[0].Size != 7 || done.Artifacts[0].Bucket != top.Bucket.Name || done.LogKey != "logs/"+job.ID+"/1.log" {
		t.Fatalf("done %+v", done)
	}
	var log string
	c.call(sub.Token, "GET", "/v1/jobs/"+job.ID+"/log", nil, 200, &log)
	if log != whole {
		t.Fatalf("stored log of %d bytes, want the %d uploaded", len(log), len(whole))
	}
	// Listings from the DynamoDB store match the document too.
	var list apiv1.JobList
	c.call(sub.Token, "GET", "/v1/jobs?status=succeeded&limit=5", nil, 200, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != job.ID {
		t.Fatalf("list %+v", list)
	}
	c.call(sub.Token, "GET", "/v1/jobs?status=running", nil, 200, nil)
	c.call(sub.Token, "GET", "/v1/queue", nil, 200, nil)
	c.call(sub.Token, "GET", "/v1/builders", nil, 200, nil)
	c.call(sub.Token, "GET", "/v1/builders/w1", nil, 200, nil)
	// A late, stale completion is refused and changes nothing.
	c.call(bld.Token, "POST", "/v1/jobs/"+job.ID+"/complete", map[string]any{"claim_token": claim.ClaimToken, "result": "failed"}, 409, nil)
	var events apiv1.EventList
	c.call(sub.Token, "GET", "/v1/jobs/"+job.ID+"/events", nil, 200, &events)
	if len(events.Events) != 3 || events.Events[2].To != farm.StatusSucceeded {
		t.Fatalf("events %+v", events.Events)
	}
	// Tokens live in the store: a new farm over the same tables accepts them.
	f2, err := wiring.New(ctx, wiring.Config{Topology: top}, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := f2.API("")
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(h2)
	defer srv2.Close()
	c2 := newClient(t, srv2.URL)
	c2.call(sub.Token, "GET", "/v1/jobs/"+job.ID, nil, 200, nil)
	c2.call(adminToken, "GET", "/v1/jobs/"+job.ID, nil, 401, nil)
}
