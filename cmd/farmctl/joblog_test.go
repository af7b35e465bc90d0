package main

import (
	"fmt"
	"strings"
	"testing"
)

// lines returns lines from..to-1 of a made-up log, each 20 bytes long.
func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %014d\n", i)
	}
	return b.String()
}

func TestLogDelta(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, prev, cur string
		want            string
		skipped         bool
	}{
		{"first read", "", "a\nb\n", "a\nb\n", false},
		{"nothing new", "a\nb\n", "a\nb\n", "", false},
		{"the tail grew", "a\n", "a\nb\n", "b\n", false},
		{"the tail grew in the middle of a line", "a\nhal", "a\nhalf\n", "f\n", false},
		// A 64 KiB window that moved on: its start fell off, new lines came at its end.
		{"the window slid", lines(0, 3000), lines(500, 3200), lines(3000, 3200), false},
		// The job ended: the full log replaces the tail, which was its end.
		{"the full log after a tail", lines(2000, 3000), lines(0, 3010), lines(3000, 3010), false},
		{"the full log with nothing new", lines(2000, 3000), lines(0, 3000), "", false},
		{"more went by than the window holds", lines(0, 3000), lines(6000, 9000), lines(6000, 9000), true},
		{"a new attempt restarted the log", "attempt 1 output\n", "attempt 2\n", "attempt 2\n", true},
	}
	for _, tc := range cases {
		got, skipped := logDelta(tc.prev, tc.cur)
		if got != tc.want || skipped != tc.skipped {
			t.Errorf("%s: got %d bytes %.40q (skipped %v), want %d bytes %.40q (skipped %v)", tc.name, len(got), got, skipped, len(tc.want), tc.want, tc.skipped)
		}
	}
}

func TestJobsLog(t *testing.T) {
	t.Parallel()
	get := wantRequest{Method: "GET", Path: "/v1/jobs/01JOB"}
	logReq := wantRequest{Method: "GET", Path: "/v1/jobs/01JOB/log"}
	runCases(t, []cliCase{
		{
			name:     "the log as the farm has it, text even with --output json",
			args:     []string{"jobs", "log", "01JOB", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/jobs/01JOB/log": {text("+ echo hi\nhi\n")}},
			wantReqs: []wantRequest{logReq},
			wantOut:  "+ echo hi\nhi\n",
		},
		{
			name: "--follow prints each new part once, until the job ends",
			args: []string{"jobs", "log", "--follow", "01JOB"},
			routes: map[string][]reply{
				"GET /v1/jobs/01JOB":     {ok(queuedJob), ok(runningJob), ok(runningJob), ok(runningJob), ok(succeededJob)},
				"GET /v1/jobs/01JOB/log": {text(""), text("one\n"), text("one\ntw"), text("one\ntwo\n"), text("one\ntwo\nthree\n")},
			},
			wantReqs: []wantRequest{get, logReq, get, logReq, get, logReq, get, logReq, get, logReq},
			wantOut:  "one\ntwo\nthree\n",
		},
		{
			name: "-f of an ended job prints its log and stops",
			args: []string{"jobs", "log", "-f", "01JOB"},
			routes: map[string][]reply{
				"GET /v1/jobs/01JOB":     {ok(failedJob)},
				"GET /v1/jobs/01JOB/log": {text("boom\n")},
			},
			wantReqs: []wantRequest{get, logReq},
			wantOut:  "boom\n",
		},
		{
			name: "--follow says when output was missed",
			args: []string{"jobs", "log", "-f", "01JOB"},
			routes: map[string][]reply{
				"GET /v1/jobs/01JOB":     {ok(runningJob), ok(succeededJob)},
				"GET /v1/jobs/01JOB/log": {text("attempt 1\n"), text("attempt 2\n")},
			},
			wantReqs: []wantRequest{get, logReq, get, logReq},
			wantOut:  "attempt 1\nattempt 2\n",
			wantErr:  []string{"some output went by between two reads, or a new attempt started"},
		},
		{
			name:     "the log of an unknown job",
			args:     []string{"jobs", "log", "-f", "01NOPE"},
			routes:   map[string][]reply{"GET /v1/jobs/01NOPE": {apiError(404, "not_found", "job 01NOPE not found")}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/jobs/01NOPE"}},
			wantCode: exitError,
			wantErr:  []string{"error: not_found: job 01NOPE not found (request req-42)\n"},
		},
	})
}
