package main

import (
	"net/http"
	"testing"
)

func TestJobsCommands(t *testing.T) {
	t.Parallel()
	page1 := `{"jobs":[` + queuedJob + `],"next_cursor":"c1"}` + "\n"
	page2 := `{"jobs":[` + failedJob + `]}` + "\n"
	runCases(t, []cliCase{
		{
			name:     "list builds the query and prints a table",
			args:     []string{"jobs", "list", "--status", "queued", "--type", "script", "--pool", "default", "--limit", "2"},
			routes:   map[string][]reply{"GET /v1/jobs": {ok(`{"jobs":[` + queuedJob + `,` + failedJob + `]}`)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs", Query: "limit=2&pool=default&status=queued&type=script"}},
			wantOut: "" +
				"ID     TYPE    STATUS  POOL     SCORE  ATTEMPTS  BUILDER  CREATED               DURATION\n" +
				"01JOB  script  queued  default  100    0/3       -        2026-05-04T11:59:00Z  -\n" +
				"01JOB  script  failed  default  100    1/1       local-1  2026-05-04T11:59:00Z  1s\n",
		},
		{
			name:   "list --mine asks the farm who the token is",
			args:   []string{"jobs", "list", "--mine", "--status", "failed"},
			routes: map[string][]reply{"GET /v1/whoami": {ok(`{"actor":"submitter:abc","role":"submitter","token_id":"abc"}`)}, "GET /v1/jobs": {ok(page2)}},
			wantReqs: []wantRequest{
				{Method: "GET", Path: "/v1/whoami"},
				{Method: "GET", Path: "/v1/jobs", Query: "requested_by=submitter%3Aabc&status=failed"},
			},
			wantOutHas: []string{"01JOB  script  failed"},
		},
		{
			name:       "list --requested-by",
			args:       []string{"jobs", "list", "--requested-by", "admin"},
			routes:     map[string][]reply{"GET /v1/jobs": {ok(page2)}},
			wantReqs:   []wantRequest{{Method: "GET", Path: "/v1/jobs", Query: "requested_by=admin"}},
			wantOutHas: []string{"01JOB  script  failed"},
		},
		{name: "--mine and --requested-by", args: []string{"jobs", "list", "--mine", "--requested-by", "x"}, wantCode: exitUsage, wantErr: []string{"give --mine or --requested-by, not both"}},
		{
			name:     "list tells how to get the next page",
			args:     []string{"jobs", "list", "--cursor", "c0"},
			routes:   map[string][]reply{"GET /v1/jobs": {ok(page1)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs", Query: "cursor=c0"}},
			wantErr:  []string{"more jobs: --cursor c1 (or --all)"},
		},
		{
			name:     "list --output json prints the farm's page as it is",
			args:     []string{"jobs", "list", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/jobs": {ok(page1)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs"}},
			wantOut:  page1,
		},
		{
			name: "list --all follows next_cursor to the last page",
			args: []string{"jobs", "list", "--all", "--status", "failed"},
			routes: map[string][]reply{
				"GET /v1/jobs?status=failed":           {ok(page1)},
				"GET /v1/jobs?cursor=c1&status=failed": {ok(page2)},
			},
			wantReqs: []wantRequest{
				{Method: "GET", Path: "/v1/jobs", Query: "status=failed"},
				{Method: "GET", Path: "/v1/jobs", Query: "cursor=c1&status=failed"},
			},
			wantOutHas: []string{"01JOB  script  queued", "01JOB  script  failed"},
		},
		{
			name: "list --all --output json joins the pages' jobs",
			args: []string{"--output=json", "jobs", "list", "--all"},
			routes: map[string][]reply{
				"GET /v1/jobs?":          {ok(page1)},
				"GET /v1/jobs?cursor=c1": {ok(page2)},
			},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs"}, {Method: "GET", Path: "/v1/jobs", Query: "cursor=c1"}},
			wantOut:  `{"jobs":[` + trimNL(queuedJob) + `,` + trimNL(failedJob) + `]}` + "\n",
		},
		{
			name: "list --all stops on a cursor seen before",
			args: []string{"jobs", "list", "--all"},
			routes: map[string][]reply{
				"GET /v1/jobs?":          {ok(page1)},
				"GET /v1/jobs?cursor=c1": {ok(page1)},
			},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs"}, {Method: "GET", Path: "/v1/jobs", Query: "cursor=c1"}},
			wantCode: exitError,
			wantErr:  []string{`error: the farm returned cursor "c1" twice`},
		},
		{
			name:     "list refuses an unknown status before calling the farm",
			args:     []string{"jobs", "list", "--status", "done"},
			wantCode: exitUsage,
			wantErr:  []string{`--status: unknown status "done"`, "usage: farmctl jobs list"},
		},
		{
			name:     "get prints the job",
			args:     []string{"jobs", "get", "01JOB"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB": {ok(failedJob)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB"}},
			wantOut: "" +
				"id:            01JOB\n" +
				"type:          script\n" +
				"status:        failed\n" +
				"pool:          default\n" +
				"score:         100\n" +
				"priority:      0\n" +
				"requested_by:  token:abc\n" +
				"created_at:    2026-05-04T11:59:00Z\n" +
				"started_at:    2026-05-04T11:59:10Z\n" +
				"finished_at:   2026-05-04T11:59:11Z\n" +
				"duration:      1s\n" +
				"attempts:      1 of 1\n" +
				"timeout:       1h0m0s\n" +
				"builder:       local-1\n" +
				"result:        failed\n" +
				"exit_code:     3\n" +
				"error:         exit status 3\n" +
				"payload:       {\"script\":\"exit 3\"}\n",
		},
		{
			name:       "get shows when a queued job should start",
			args:       []string{"jobs", "get", "01JOB"},
			routes:     map[string][]reply{"GET /v1/jobs/01JOB": {ok(queuedJob)}},
			wantReqs:   []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB"}},
			wantOutHas: []string{"estimated_start_at:  2026-05-04T12:00:30Z (in 30s)\n"},
		},
		{
			name:     "get --output json prints the farm's JSON byte for byte, unknown fields too",
			args:     []string{"jobs", "get", "01JOB", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB": {ok(succeededJob)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB"}},
			wantOut:  succeededJob,
		},
		{
			name:     "global flags before a group's command",
			args:     []string{"jobs", "-o", "json", "get", "01JOB"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB": {ok(succeededJob)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB"}},
			wantOut:  succeededJob,
		},
		{
			name:     "FARM_OUTPUT=json is the scripts' default",
			args:     []string{"jobs", "get", "01JOB"},
			env:      map[string]string{"FARM_OUTPUT": "json"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB": {ok(succeededJob)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB"}},
			wantOut:  succeededJob,
		},
		{
			name:       "an ID is escaped into one path segment",
			args:       []string{"jobs", "get", "../builders"},
			routes:     map[string][]reply{"GET /v1/jobs/..%2Fbuilders": {ok(queuedJob)}},
			wantReqs:   []wantRequest{{Method: "GET", Path: "/v1/jobs/..%2Fbuilders"}},
			wantOutHas: []string{"id:"},
		},
		{
			name:     "events",
			args:     []string{"jobs", "events", "01JOB"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB/events": {ok(eventsAnswer)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB/events"}},
			wantOut: "" +
				"AT                    FROM     TO         ACTOR            DETAIL\n" +
				"2026-05-04T11:59:00Z  -        queued     token:abc        submitted\n" +
				"2026-05-04T11:59:10Z  queued   running    builder:local-1  attempt 1 on local-1\n" +
				"2026-05-04T11:59:12Z  running  succeeded  builder:local-1  -\n",
		},
		{
			name:     "events --output json",
			args:     []string{"jobs", "events", "01JOB", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB/events": {ok(eventsAnswer)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01JOB/events"}},
			wantOut:  eventsAnswer,
		},
		{
			name:       "cancel",
			args:       []string{"jobs", "cancel", "01JOB"},
			routes:     map[string][]reply{"POST /v1/jobs/01JOB/cancel": {ok(`{"id":"01JOB","type":"script","status":"cancelled","payload":{},"created_at":"2026-05-04T11:59:00Z"}`)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs/01JOB/cancel"}},
			wantOutHas: []string{"status:        cancelled\n"},
		},
		{
			name:     "cancel of an ended job is the farm's conflict, exit 1",
			args:     []string{"jobs", "cancel", "01JOB"},
			routes:   map[string][]reply{"POST /v1/jobs/01JOB/cancel": {apiError(http.StatusConflict, "conflict", "job is succeeded and cannot become cancelled")}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs/01JOB/cancel"}},
			wantCode: exitError,
			wantErr:  []string{"error: conflict: job is succeeded and cannot become cancelled (request req-42)\n"},
		},
		{
			name:       "retry",
			args:       []string{"jobs", "retry", "01JOB"},
			routes:     map[string][]reply{"POST /v1/jobs/01JOB/retry": {ok(queuedJob)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs/01JOB/retry"}},
			wantOutHas: []string{"status:              queued\n"},
		},
		{
			name:       "score pins a negative score",
			args:       []string{"jobs", "score", "01JOB", "-5"},
			routes:     map[string][]reply{"POST /v1/jobs/01JOB/score": {ok(pinnedJob)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs/01JOB/score", Body: `{"score":-5}`}},
			wantOutHas: []string{"score:         -5 (pinned)\n"},
		},
		{
			name:     "score refuses a score that is not a number",
			args:     []string{"jobs", "score", "01JOB", "high"},
			wantCode: exitUsage,
			wantErr:  []string{`SCORE must be a whole number, not "high"`, "usage: farmctl jobs score ID SCORE"},
		},
		{
			name:     "score needs both arguments",
			args:     []string{"jobs", "score", "01JOB"},
			wantCode: exitUsage,
			wantErr:  []string{"farmctl jobs score: missing arguments", "usage: farmctl jobs score ID SCORE"},
		},
	})
}

func trimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}
