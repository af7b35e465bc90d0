package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestSubmit(t *testing.T) {
	t.Parallel()
	payloadFile := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(payloadFile, []byte("{\n  \"script\": \"make\",\n  \"pool\": \"arm64\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	submitted := map[string][]reply{"POST /v1/jobs": {created(queuedJob)}}
	runCases(t, []cliCase{
		{
			name: "every field and the idempotency key",
			args: []string{"submit", "--type", "script", "--payload", `{"script":"echo hi"}`, "--priority", "10",
				"--max-attempts", "2", "--timeout-seconds", "600", "--depends-on", "01A, 01B", "--idempotency-key", "ci-run-7"},
			routes: submitted,
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", IdempotencyKey: "ci-run-7",
				Body: `{"type":"script","payload":{"script":"echo hi"},"priority":10,"max_attempts":2,"timeout_seconds":600,"depends_on":["01A","01B"]}`}},
			wantOutHas: []string{"id: 01JOB\n", "status: queued\n"},
		},
		{
			name:       "only the given fields are sent; a zero priority is given",
			args:       []string{"submit", "--type", "script", "--priority", "0"},
			routes:     submitted,
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{},"priority":0}`}},
			wantOutHas: []string{"id: 01JOB\n"},
		},
		{
			name:       "payload from a file",
			args:       []string{"submit", "--type", "script", "--payload-file", payloadFile},
			routes:     submitted,
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"make","pool":"arm64"}}`}},
			wantOutHas: []string{"id: 01JOB\n"},
		},
		{
			name:       "payload from stdin",
			args:       []string{"submit", "--type", "script", "--payload-file", "-"},
			stdin:      `{"script":"from stdin"}`,
			routes:     submitted,
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"from stdin"}}`}},
			wantOutHas: []string{"id: 01JOB\n"},
		},
		{
			name:     "-q prints only the ID",
			args:     []string{"submit", "-q", "--type", "script", "--payload", `{"script":"true"}`},
			routes:   submitted,
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"true"}}`}},
			wantOut:  "01JOB\n",
		},
		{
			name:     "--output json prints the farm's answer",
			args:     []string{"submit", "--output", "json", "--type", "script"},
			routes:   submitted,
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{}}`}},
			wantOut:  queuedJob,
		},
		{
			name:       "a repeated idempotency key says so",
			args:       []string{"submit", "--type", "script", "--idempotency-key", "k1"},
			routes:     map[string][]reply{"POST /v1/jobs": {ok(queuedJob)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs", IdempotencyKey: "k1", Body: `{"type":"script","payload":{}}`}},
			wantOutHas: []string{"id: 01JOB\n"},
			wantErr:    []string{`idempotency key "k1" had already made job 01JOB`},
		},
		{
			name:     "an invalid payload is the farm's 400, exit 1",
			args:     []string{"submit", "--type", "script", "--payload", `{"scrpt":"x"}`},
			routes:   map[string][]reply{"POST /v1/jobs": {apiError(http.StatusBadRequest, "invalid", "payload: unknown field scrpt")}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"scrpt":"x"}}`}},
			wantCode: exitError,
			wantErr:  []string{"error: invalid: payload: unknown field scrpt (request req-42)\n"},
		},
		{
			name:     "a reused idempotency key with another request",
			args:     []string{"submit", "--type", "script", "--idempotency-key", "k1", "--payload", `{"script":"other"}`},
			routes:   map[string][]reply{"POST /v1/jobs": {apiError(http.StatusConflict, "idempotency_mismatch", "key k1 was used for another request")}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", IdempotencyKey: "k1", Body: `{"type":"script","payload":{"script":"other"}}`}},
			wantCode: exitError,
			wantErr:  []string{"error: idempotency_mismatch: key k1 was used for another request"},
		},
		{name: "--type is required", args: []string{"submit"}, wantCode: exitUsage, wantErr: []string{"--type is required", "usage: farmctl submit --type TYPE"}},
		{name: "the payload must be JSON", args: []string{"submit", "--type", "script", "--payload", "{nope"}, wantCode: exitUsage, wantErr: []string{"the payload is not valid JSON"}},
		{
			name: "one payload only", args: []string{"submit", "--type", "script", "--payload", "{}", "--payload-file", payloadFile},
			wantCode: exitUsage, wantErr: []string{"give --payload or --payload-file, not both"},
		},
		{name: "a missing payload file", args: []string{"submit", "--type", "script", "--payload-file", "/nonexistent/p.json"}, wantCode: exitUsage, wantErr: []string{"--payload-file: open /nonexistent/p.json"}},
		{name: "--logs needs --wait", args: []string{"submit", "--type", "script", "--logs"}, wantCode: exitUsage, wantErr: []string{"--logs needs --wait"}},
		{name: "a bad number", args: []string{"submit", "--type", "script", "--priority", "high"}, wantCode: exitUsage, wantErr: []string{`invalid value "high" for flag -priority`}},
		{name: "an unknown flag", args: []string{"submit", "--type", "script", "--colour"}, wantCode: exitUsage, wantErr: []string{"flag provided but not defined: -colour"}},
	})
}

func TestRunScript(t *testing.T) {
	t.Parallel()
	submitted := map[string][]reply{"POST /v1/jobs": {created(queuedJob)}}
	runCases(t, []cliCase{
		{
			name:       "a script with a pool",
			args:       []string{"run-script", "echo hi", "--pool", "arm64"},
			routes:     submitted,
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"echo hi","pool":"arm64"}}`}},
			wantOutHas: []string{"id: 01JOB\n"},
		},
		{
			name:     "words are joined into one script",
			args:     []string{"run-script", "-q", "echo", "hi", "there"},
			routes:   submitted,
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"echo hi there"}}`}},
			wantOut:  "01JOB\n",
		},
		{
			name:     "a word that looks like a flag needs --",
			args:     []string{"run-script", "make", "-j4"},
			wantCode: exitUsage,
			wantErr:  []string{"flag provided but not defined: -j4", "usage: farmctl run-script SCRIPT"},
		},
		{
			name:     "after --, everything is the script",
			args:     []string{"run-script", "-q", "--priority", "5", "--", "make", "-j4"},
			routes:   submitted,
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/jobs", Body: `{"type":"script","payload":{"script":"make -j4"},"priority":5}`}},
			wantOut:  "01JOB\n",
		},
		{name: "a script is required", args: []string{"run-script", "--pool", "arm64"}, wantCode: exitUsage, wantErr: []string{"usage: farmctl run-script SCRIPT"}},
	})
}
