package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSubmitWait(t *testing.T) {
	t.Parallel()
	submit := wantRequest{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"echo hi"}}`}
	get := wantRequest{Method: "GET", Path: "/v1/jobs/01JOB"}
	logReq := wantRequest{Method: "GET", Path: "/v1/jobs/01JOB/log"}
	ended := func(status, errText string) string {
		return `{"id":"01JOB","type":"script","status":"` + status + `","pool":"default","payload":{},` +
			`"created_at":"2026-05-04T11:59:00Z","error":"` + errText + `"}`
	}
	runCases(t, []cliCase{
		{
			name: "succeeded: exit 0, progress on stderr, the job on stdout",
			args: []string{"run-script", "echo hi", "--wait"},
			routes: map[string][]reply{
				"POST /v1/jobs":      {created(queuedJob)},
				"GET /v1/jobs/01JOB": {ok(queuedJob), ok(runningJob), ok(succeededJob)},
			},
			wantReqs:   []wantRequest{submit, get, get, get},
			wantOutHas: []string{"id: 01JOB\n", "status: succeeded\n", "duration: 2.5s\n"},
			wantErr: []string{
				"job 01JOB queued, estimated start 2026-05-04T12:00:30Z\n",
				"job 01JOB running on local-1\n",
				"job 01JOB succeeded after 2.5s\n",
			},
		},
		{
			name: "failed: the script's exit code, with the job's error",
			args: []string{"run-script", "echo hi", "--wait"},
			routes: map[string][]reply{
				"POST /v1/jobs":      {created(queuedJob)},
				"GET /v1/jobs/01JOB": {ok(runningJob), ok(failedJob)},
			},
			wantReqs:   []wantRequest{submit, get, get},
			wantCode:   3,
			wantOutHas: []string{"status: failed\n", "exit_code: 3\n"},
			wantErr:    []string{"job 01JOB running on local-1\n", "error: job 01JOB failed: exit status 3\n"},
		},
		{
			name:     "cancelled: exit 130",
			args:     []string{"run-script", "echo hi", "--wait", "-q"},
			routes:   map[string][]reply{"POST /v1/jobs": {created(queuedJob)}, "GET /v1/jobs/01JOB": {ok(ended("cancelled", ""))}},
			wantReqs: []wantRequest{submit, get},
			wantCode: exitJobCancelled,
			wantOut:  "01JOB\n",
			wantErr:  []string{"error: job 01JOB cancelled\n"},
		},
		{
			name:     "timed out: exit 124",
			args:     []string{"run-script", "echo hi", "--wait", "-q"},
			routes:   map[string][]reply{"POST /v1/jobs": {created(queuedJob)}, "GET /v1/jobs/01JOB": {ok(ended("timed_out", "lease expired 3 times"))}},
			wantReqs: []wantRequest{submit, get},
			wantCode: exitJobTimedOut,
			wantOut:  "01JOB\n",
			wantErr:  []string{"error: job 01JOB timed_out: lease expired 3 times\n"},
		},
		{
			name: "cancelling is not the end",
			args: []string{"run-script", "echo hi", "--wait", "-q"},
			routes: map[string][]reply{
				"POST /v1/jobs":      {created(queuedJob)},
				"GET /v1/jobs/01JOB": {ok(ended("cancelling", "")), ok(ended("cancelled", ""))},
			},
			wantReqs: []wantRequest{submit, get, get},
			wantCode: exitJobCancelled,
			wantOut:  "01JOB\n",
			wantErr:  []string{"error: job 01JOB cancelled\n"},
		},
		{
			name: "--logs prints the log after the job",
			args: []string{"run-script", "echo hi", "--wait", "--logs"},
			routes: map[string][]reply{
				"POST /v1/jobs":          {created(queuedJob)},
				"GET /v1/jobs/01JOB":     {ok(succeededJob)},
				"GET /v1/jobs/01JOB/log": {text("+ echo hi\nhi")},
			},
			wantReqs:   []wantRequest{submit, get, logReq},
			wantOutHas: []string{"status: succeeded\n", "payload: {\"script\":\"echo hi\"}\nlog:\n+ echo hi\nhi\n"},
			wantErr:    []string{"job 01JOB succeeded"},
		},
		{
			name: "--output json: the final job's JSON on stdout, the log on stderr",
			args: []string{"run-script", "echo hi", "--wait", "--logs", "--output", "json"},
			routes: map[string][]reply{
				"POST /v1/jobs":          {created(queuedJob)},
				"GET /v1/jobs/01JOB":     {ok(runningJob), ok(succeededJob)},
				"GET /v1/jobs/01JOB/log": {text("hi\n")},
			},
			wantReqs: []wantRequest{submit, get, get, logReq},
			wantOut:  succeededJob,
			wantErr:  []string{"hi\n"},
		},
		{
			name: "a farm that stumbles does not end the wait",
			args: []string{"run-script", "echo hi", "--wait", "-q"},
			routes: map[string][]reply{
				"POST /v1/jobs":      {created(queuedJob)},
				"GET /v1/jobs/01JOB": {apiError(http.StatusServiceUnavailable, "unavailable", "try again"), ok(succeededJob)},
			},
			wantReqs: []wantRequest{submit, get, get},
			wantOut:  "01JOB\n",
			wantErr:  []string{"polling job 01JOB: farm answered 503 unavailable: try again (request req-42) (trying again)"},
		},
		{
			name: "a farm that keeps failing does",
			args: []string{"run-script", "echo hi", "--wait", "-q"},
			routes: map[string][]reply{
				"POST /v1/jobs":      {created(queuedJob)},
				"GET /v1/jobs/01JOB": {apiError(http.StatusServiceUnavailable, "unavailable", "down")},
			},
			wantReqs: []wantRequest{submit, get, get, get, get, get, get},
			wantCode: exitWaitError,
			wantOut:  "01JOB\n",
			wantErr:  []string{"(trying again)", "error: unavailable: down (request req-42)\n"},
		},
		{
			name: "a refusal ends the wait at once",
			args: []string{"run-script", "echo hi", "--wait", "-q"},
			routes: map[string][]reply{
				"POST /v1/jobs":      {created(queuedJob)},
				"GET /v1/jobs/01JOB": {apiError(http.StatusForbidden, "forbidden", "not yours")},
			},
			wantReqs: []wantRequest{submit, get},
			wantCode: exitWaitError,
			wantOut:  "01JOB\n",
			wantErr:  []string{"error: forbidden: not yours (request req-42)\n"},
		},
		{
			name:       "jobs wait: a job submitted before",
			args:       []string{"jobs", "wait", "01JOB", "--logs"},
			routes:     map[string][]reply{"GET /v1/jobs/01JOB": {ok(runningJob), ok(succeededJob)}, "GET /v1/jobs/01JOB/log": {text("hi\n")}},
			wantReqs:   []wantRequest{get, get, logReq},
			wantOutHas: []string{"status: succeeded\n", "log:\nhi\n"},
			wantErr:    []string{"job 01JOB running on local-1\n", "job 01JOB succeeded after 2.5s\n"},
		},
		{
			name:     "jobs wait -q: only the exit code tells",
			args:     []string{"jobs", "wait", "-q", "01JOB"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB": {ok(failedJob)}},
			wantReqs: []wantRequest{get},
			wantCode: 3,
			wantOut:  "",
			wantErr:  []string{"error: job 01JOB failed: exit status 3\n"},
		},
		{
			name:     "jobs wait -o json",
			args:     []string{"jobs", "wait", "01JOB", "-o", "json"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB": {ok(runningJob), ok(succeededJob)}},
			wantReqs: []wantRequest{get, get},
			wantOut:  succeededJob,
		},
		{name: "--wait-timeout needs --wait", args: []string{"run-script", "true", "--wait-timeout", "1m"}, wantCode: exitUsage, wantErr: []string{"--wait-timeout needs --wait"}},
	})
}

// A wait with --wait-timeout gives up on a job that does not end. (Only
// that it ends and how is checked, not when.)
func TestSubmitWaitGivesUp(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, map[string][]reply{"POST /v1/jobs": {created(queuedJob)}, "GET /v1/jobs/01JOB": {ok(runningJob)}})
	got := runFarmctl(t, f, nil, "", "run-script", "sleep 1000", "--wait", "--wait-timeout", "30ms")
	if got.code != exitWaitError || !strings.Contains(got.stderr, "error: gave up waiting for job 01JOB after 30ms: it is running (farmctl jobs wait 01JOB)\n") {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
}

// An interrupted wait says that the job goes on.
func TestSubmitWaitInterrupted(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, map[string][]reply{"POST /v1/jobs": {created(queuedJob)}, "GET /v1/jobs/01JOB": {ok(runningJob)}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr strings.Builder
	a := newApp(ctx, strings.NewReader(""), &stdout, &stderr, env{"FARM_API": f.srv.URL, "FARM_TOKEN": testToken}.get)
	a.pollMin, a.pollMax = time.Millisecond, time.Millisecond
	// Interrupt once the farm has been polled (as Ctrl-C would).
	go func() {
		for len(f.requests()) < 3 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	code := a.run([]string{"run-script", "sleep 1000", "--wait"})
	if code != exitWaitError || !strings.Contains(stderr.String(), "error: interrupted: job 01JOB is running and goes on (farmctl jobs wait 01JOB)\n") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff{min: 100 * time.Millisecond, max: 300 * time.Millisecond}
	want := []time.Duration{100, 150, 225, 300, 300}
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Fatalf("poll %d: %s, want %s", i, got, w*time.Millisecond)
		}
	}
	b.reset()
	if got := b.next(); got != 100*time.Millisecond {
		t.Fatalf("after reset: %s", got)
	}
}

// On a terminal a wait is live: one status line redrawn in place (status,
// elapsed, queue position, estimated start), the log printed above it as
// the job runs, and the exit status is the job's.
func TestSubmitWaitLiveOnATerminal(t *testing.T) {
	t.Parallel()
	queuedSecond := strings.Replace(queuedJob, `"version":1}`, `"queue_position":2,"version":1}`, 1)
	failedAfterLog := strings.Replace(failedJob, `"exit_code":3`, `"exit_code":42`, 1)
	runCases(t, []cliCase{{
		name: "live",
		args: []string{"run-script", "exit 42", "--wait", "--logs"},
		env:  map[string]string{testTerminal: "1"},
		routes: map[string][]reply{
			"POST /v1/jobs":          {created(queuedJob)},
			"GET /v1/jobs/01JOB":     {ok(queuedSecond), ok(runningJob), ok(runningJob), ok(failedAfterLog)},
			"GET /v1/jobs/01JOB/log": {text("step 1\n"), text("step 1\nstep 2\nhalf a li"), text("step 1\nstep 2\nhalf a line\nthe end")},
		},
		wantReqs: []wantRequest{
			{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"exit 42"}}`},
			{Method: "GET", Path: "/v1/jobs/01JOB"},
			{Method: "GET", Path: "/v1/jobs/01JOB"}, {Method: "GET", Path: "/v1/jobs/01JOB/log"},
			{Method: "GET", Path: "/v1/jobs/01JOB"}, {Method: "GET", Path: "/v1/jobs/01JOB/log"},
			{Method: "GET", Path: "/v1/jobs/01JOB"}, {Method: "GET", Path: "/v1/jobs/01JOB/log"},
		},
		wantCode:   42,
		wantOutHas: []string{"status: failed\n", "exit_code: 42\n"},
		wantErr: []string{
			"\r\x1b[2K⠙ job 01JOB queued · 1m0s · 2nd in queue · starts in 30s",
			"\r\x1b[2K⠹ job 01JOB running on local-1 · 1m0s",
			"\r\x1b[2Kstep 1\n",
			"\r\x1b[2Kstep 2\n",
			"\r\x1b[2Khalf a line\nthe end\n",
			"error: job 01JOB failed: exit status 3\n",
		},
	}})
}

// Off a terminal the lines are plain: no escape sequences, no live log.
func TestSubmitWaitPlainOffATerminal(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, map[string][]reply{"POST /v1/jobs": {created(queuedJob)}, "GET /v1/jobs/01JOB": {ok(queuedJob), ok(runningJob), ok(succeededJob)}})
	got := runFarmctl(t, f, nil, "", "run-script", "echo hi", "--wait")
	if got.code != exitOK || strings.Contains(got.stderr, "\x1b") || strings.Count(got.stderr, "\n") != 3 {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	for _, r := range f.requests() {
		if strings.HasSuffix(r.Path, "/log") {
			t.Fatalf("the log was read without --logs off a terminal: %+v", r)
		}
	}
}

// A submission the farm refuses with --wait is a farm error (125), not a
// job's exit code.
func TestSubmitWaitRefusedIsAFarmError(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, map[string][]reply{"POST /v1/jobs": {apiError(http.StatusBadRequest, "invalid", "payload.script: is required")}})
	if got := runFarmctl(t, f, nil, "", "run-script", "x", "--wait"); got.code != exitWaitError || !strings.Contains(got.stderr, "error: invalid: payload.script") {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	if got := runFarmctl(t, f, nil, "", "run-script", "x"); got.code != exitError {
		t.Fatalf("without --wait: exit %d", got.code)
	}
}

func TestOrdinal(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
