package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

const (
	adminToken = "test-admin-token-0123456789abcdef"
	testBucket = "farm-test-artifacts"
)

// fakeBells knows a doorbell queue for every pool.
type fakeBells struct{}

func (fakeBells) QueueURLs(pools []string) map[string]string {
	out := map[string]string{}
	for _, p := range pools {
		out[p] = "https://sqs.test/queue/pool-" + p
	}
	return out
}

// failingStore fails GetJob with an internal error when failGetJob is set.
type failingStore struct {
	*memstore.Store
	mu          sync.Mutex
	failGetJob  error
	panicGetJob bool
}

func (s *failingStore) GetJob(ctx context.Context, id string) (*farm.Job, error) {
	s.mu.Lock()
	err, panics := s.failGetJob, s.panicGetJob
	s.mu.Unlock()
	if panics {
		panic("store bug: nil map in secret-internal-name")
	}
	if err != nil {
		return nil, err
	}
	return s.Store.GetJob(ctx, id)
}

// env is one API over a fresh in-memory farm.
type env struct {
	t      testing.TB
	srv    *httpapi.Server
	svc    *wiring.Services
	store  *failingStore
	auth   *tokens.Service
	blobs  *memblobs.Store
	logs   *syncBuffer
	tokens map[string]string // who -> secret
	actors map[string]string // who -> actor string
}

// Callers of the tests.
const (
	none       = "none"
	badToken   = "bad-token"
	submitterA = "submitter-a"
	submitterB = "submitter-b"
	builder1   = "builder-self"
	builder2   = "builder-other"
	admin      = "admin"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	logs := &syncBuffer{}
	e := newEnvLogging(t, logs)
	e.logs = logs
	return e
}

// newEnvLogging is newEnv with its logs written to w.
func newEnvLogging(t testing.TB, w io.Writer) *env {
	t.Helper()
	return newEnvClocked(t, w, time.Now)
}

// newEnvClocked is newEnvLogging with tokens judged by the time now says.
func newEnvClocked(t testing.TB, w io.Writer, now func() time.Time) *env {
	t.Helper()
	logger := slog.New(httpapi.ContextHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	store := &failingStore{Store: memstore.New()}
	blobs := memblobs.New(testBucket)
	pools := []string{"default", "amd64"}
	svc := wiring.NewServices(wiring.Deps{Store: store, Queues: fakeBells{}, Blobs: blobs, Pools: pools, Logger: logger,
		Sources: farm.SourcePolicy{Bucket: testBucket, Prefix: "incoming/"}})
	a := tokens.New(store, adminToken, tokens.WithClock(now), tokens.WithPools(farm.NewPools(pools)), tokens.WithLogger(logger))
	srv, err := svc.APIWith(a)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, svc: svc, store: store, auth: a, blobs: blobs,
		tokens: map[string]string{none: "", badToken: "bft_" + strings.Repeat("0", 64), admin: adminToken},
		actors: map[string]string{admin: "admin"},
	}
	for who, req := range map[string]tokens.IssueRequest{
		submitterA: {Role: farm.RoleSubmitter, Name: "a"},
		submitterB: {Role: farm.RoleSubmitter, Name: "b"},
		builder1:   {Role: farm.RoleBuilder, Builder: "b1"},
		builder2:   {Role: farm.RoleBuilder, Builder: "b2"},
	} {
		secret, tok, err := a.Issue(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[who] = secret
		e.actors[who] = farm.Principal{TokenID: tok.ID, Role: tok.Role, Builder: tok.Builder}.Actor()
	}
	return e
}

// request builds a request; body is JSON-encoded unless it is a string.
func request(method, path, token string, body any) *http.Request {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		r = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// do sends a request as who.
func (e *env) do(who, method, path string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request(method, path, e.tokens[who], body))
}

func (e *env) serve(req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	return w
}

// must sends a request and fails the test unless the status is want; it
// decodes a JSON answer into out.
func (e *env) must(want int, who, method, path string, body, out any) *httptest.ResponseRecorder {
	e.t.Helper()
	w := e.do(who, method, path, body)
	if w.Code != want {
		e.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, who, w.Code, w.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, w.Body, err)
		}
	}
	return w
}

// errorOf checks the error body of w and returns it.
func errorOf(t testing.TB, w *httptest.ResponseRecorder) apiv1.ErrorDetail {
	t.Helper()
	var body apiv1.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	if body.Error.Code == "" || body.Error.Message == "" || body.Error.RequestID == "" {
		t.Fatalf("error body %s lacks code, message or request_id", w.Body)
	}
	if body.Error.RequestID != w.Header().Get(httpapi.RequestIDHeader) {
		t.Fatalf("error request_id %q, header %q", body.Error.RequestID, w.Header().Get(httpapi.RequestIDHeader))
	}
	return body.Error
}

// expectError checks status, code and (when not empty) field of an error answer.
func expectError(t testing.TB, w *httptest.ResponseRecorder, status int, code, field string) apiv1.ErrorDetail {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d %s, want %d %s", w.Code, w.Body, status, code)
	}
	d := errorOf(t, w)
	if d.Code != code || (field != "" && d.Field != field) {
		t.Fatalf("error %+v, want code %s field %q", d, code, field)
	}
	return d
}

func script(s string) map[string]any {
	return map[string]any{"type": "script", "payload": map[string]any{"script": s}}
}

// submit submits a script job as who.
func (e *env) submit(who, text string) *farm.Job {
	e.t.Helper()
	var job farm.Job
	e.must(http.StatusCreated, who, "POST", "/v1/jobs", script(text), &job)
	return &job
}

var builderSpec = map[string]any{"kind": "ec2", "arch": "amd64", "pools": []string{"default"}, "slots": 2}

// register registers builder name (b1 or b2) with its own token.
func (e *env) register(who, name string) {
	e.t.Helper()
	e.must(http.StatusOK, who, "PUT", "/v1/builders/"+name, builderSpec, nil)
}

// claim claims a job of the default pool as builder1 (b1).
func (e *env) claim() *apiv1.ClaimResponse {
	e.t.Helper()
	var c apiv1.ClaimResponse
	e.must(http.StatusOK, builder1, "POST", "/v1/builders/b1/claim", map[string]string{"pool": "default"}, &c)
	return &c
}

// running submits a job as submitterA and has b1 claim it.
func (e *env) running(text string) (*farm.Job, string) {
	e.t.Helper()
	job := e.submit(submitterA, text)
	c := e.claim()
	if c.Job.ID != job.ID {
		e.t.Fatalf("claimed %s, want %s", c.Job.ID, job.ID)
	}
	return c.Job, c.ClaimToken
}

func (e *env) getJob(id string) *farm.Job {
	e.t.Helper()
	var job farm.Job
	e.must(http.StatusOK, admin, "GET", "/v1/jobs/"+id, nil, &job)
	return &job
}

var errBoom = errors.New("boom: dynamodb said ProvisionedThroughputExceeded on table secret-internal-name")

func decodeInto(t testing.TB, w *httptest.ResponseRecorder, out any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
}

// listJobs lists jobs as who with the query q.
func (e *env) listJobs(who, q string) apiv1.JobList {
	e.t.Helper()
	var list apiv1.JobList
	e.must(http.StatusOK, who, "GET", "/v1/jobs?"+q, nil, &list)
	return list
}
