package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
)

// testTerminal in a run's env makes farmctl believe its streams are terminals.
const testTerminal = "TEST_TERMINAL"

// testToken is the FARM_TOKEN of every test run.
const testToken = "tok-test-123"

// testNow is the clock of every test run (times in answers are near it).
var testNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// reply is one canned answer of the fake farm.
type reply struct {
	status      int
	body        string
	contentType string // default application/json
	requestID   string // X-Request-Id
}

func ok(body string) reply      { return reply{status: 200, body: body} }
func created(body string) reply { return reply{status: 201, body: body} }
func text(body string) reply {
	return reply{status: 200, body: body, contentType: "text/plain; charset=utf-8"}
}
func apiError(status int, code, msg string) reply {
	return reply{status: status, body: `{"error":{"code":"` + code + `","message":"` + msg + `"}}`, requestID: "req-42"}
}

// seen is one request the fake farm received.
type seen struct {
	Method, Path, Query, Auth, IdempotencyKey, ContentType string
	Body                                                   string
}

// fakeFarm is an httptest farm that answers canned replies per route
// ("GET /v1/jobs/01J", or with its query "GET /v1/jobs?cursor=c1") and
// records every request. A route's replies are given in turn; the last one
// repeats. Unknown routes answer 404 not_found.
type fakeFarm struct {
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string][]reply
	reqs   []seen
}

func newFakeFarm(t *testing.T, routes map[string][]reply) *fakeFarm {
	t.Helper()
	f := &fakeFarm{routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFarm) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"), ContentType: r.Header.Get("Content-Type"), Body: string(body),
	})
	key := r.Method + " " + r.URL.EscapedPath()
	replies, found := f.routes[key+"?"+r.URL.RawQuery]
	if found {
		key += "?" + r.URL.RawQuery
	} else {
		replies, found = f.routes[key]
	}
	var rep reply
	switch {
	case !found || len(replies) == 0:
		rep = apiError(404, "not_found", "no route "+key)
	case len(replies) == 1:
		rep = replies[0]
	default:
		rep, f.routes[key] = replies[0], replies[1:]
	}
	f.mu.Unlock()
	ct := rep.contentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	if rep.requestID != "" {
		w.Header().Set("X-Request-Id", rep.requestID)
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeFarm) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// result is what one farmctl run did.
type result struct {
	code           int
	stdout, stderr string
}

// runFarmctl runs farmctl against f (nil: no farm) with FARM_API and
// FARM_TOKEN set, plus env, and stdin.
func runFarmctl(t *testing.T, f *fakeFarm, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	// Without the client's retries: each canned reply is met once.
	return runFarmctlRetrying(t, f, client.RetryPolicy{}, env, stdin, args...)
}

// runFarmctlRetrying is runFarmctl with the client's retry policy.
func runFarmctlRetrying(t *testing.T, f *fakeFarm, retry client.RetryPolicy, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	vars := map[string]string{"FARM_TOKEN": testToken}
	if f != nil {
		vars["FARM_API"] = f.srv.URL
	}
	for k, v := range env {
		vars[k] = v
	}
	var stdout, stderr bytes.Buffer
	a := newApp(context.Background(), strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return vars[k] })
	a.now = func() time.Time { return testNow }
	a.pollMin, a.pollMax = time.Millisecond, 2*time.Millisecond
	a.httpTimeout = 10 * time.Second
	a.retry = retry
	// A run "on a terminal" (live waits, progress bars) sets this test-only variable.
	if vars[testTerminal] != "" {
		a.isTerminal = func(io.Writer) bool { return true }
	}
	code := a.run(args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// wantRequest is one request farmctl must send. Every field is compared
// (an empty one means "none"), and the token must be the test token.
type wantRequest struct {
	Method, Path, Query, IdempotencyKey string
	// Body is JSON compared by value; "" means no body.
	Body string
}

func checkRequest(t *testing.T, got seen, want wantRequest) {
	t.Helper()
	if got.Method != want.Method || got.Path != want.Path {
		t.Errorf("request %s %s, want %s %s", got.Method, got.Path, want.Method, want.Path)
	}
	if got.Query != want.Query {
		t.Errorf("%s %s: query %q, want %q", got.Method, got.Path, got.Query, want.Query)
	}
	if got.Auth != "Bearer "+testToken {
		t.Errorf("%s %s: Authorization %q", got.Method, got.Path, got.Auth)
	}
	if got.IdempotencyKey != want.IdempotencyKey {
		t.Errorf("%s %s: Idempotency-Key %q, want %q", got.Method, got.Path, got.IdempotencyKey, want.IdempotencyKey)
	}
	if !sameJSON(got.Body, want.Body) {
		t.Errorf("%s %s: body %s, want %s", got.Method, got.Path, got.Body, want.Body)
	}
	if got.Body != "" && got.ContentType != "application/json" {
		t.Errorf("%s %s: body sent as %q", got.Method, got.Path, got.ContentType)
	}
}

func sameJSON(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// cliCase is one farmctl run against a fake farm and what it must do.
type cliCase struct {
	name   string
	args   []string
	env    map[string]string
	stdin  string
	routes map[string][]reply
	// wantReqs are every request farmctl must send, in order.
	wantReqs []wantRequest
	wantCode int
	// wantOut is the exact stdout; wantOutHas are parts of it, where any run
	// of spaces matches any other (table columns move with their contents).
	wantOut    string
	wantOutHas []string
	// wantErr are parts of stderr; an empty stderr is expected when there are none.
	wantErr []string
}

func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFarm(t, tc.routes)
			got := runFarmctl(t, f, tc.env, tc.stdin, tc.args...)
			if got.code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", got.code, tc.wantCode, got.stdout, got.stderr)
			}
			reqs := f.requests()
			if len(reqs) != len(tc.wantReqs) {
				t.Errorf("%d requests, want %d: %+v", len(reqs), len(tc.wantReqs), reqs)
			}
			for i := range min(len(reqs), len(tc.wantReqs)) {
				checkRequest(t, reqs[i], tc.wantReqs[i])
			}
			if tc.wantOut != "" && got.stdout != tc.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", got.stdout, tc.wantOut)
			}
			for _, part := range tc.wantOutHas {
				if !strings.Contains(squeeze(got.stdout), squeeze(part)) {
					t.Errorf("stdout does not have %q:\n%s", part, got.stdout)
				}
			}
			if len(tc.wantErr) == 0 && got.stderr != "" {
				t.Errorf("unexpected stderr:\n%s", got.stderr)
			}
			for _, part := range tc.wantErr {
				if !strings.Contains(got.stderr, part) {
					t.Errorf("stderr does not have %q:\n%s", part, got.stderr)
				}
			}
		})
	}
}

// squeeze turns every run of spaces into one space.
func squeeze(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// env is a fixed environment for newApp.
type env map[string]string

func (e env) get(k string) string { return e[k] }
