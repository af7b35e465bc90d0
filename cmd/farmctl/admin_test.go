package main

import (
	"net/http"
	"testing"
)

func TestQueue(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{
			name:     "per pool: queue, builders, oldest wait, next start, time to start",
			args:     []string{"queue"},
			routes:   map[string][]reply{"GET /v1/queue": {ok(queueAnswer)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/queue"}},
			wantOut: "" +
				"POOL     QUEUED  RUNNING  WAITING  IDLE  BUSY  UNAVAILABLE  SLOTS  OLDEST-WAIT  NEXT-START  START-P50  START-P90  STARTED-1H\n" +
				"default  4       2        1        0     2     1            2      1m35s        in 1m30s    4.3s       1m12s      12\n" +
				"arm64    0       0        0        1     0     0            1      -            -           -          -          0\n",
		},
		{
			name:     "json",
			args:     []string{"queue", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/queue": {ok(queueAnswer)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/queue"}},
			wantOut:  queueAnswer,
		},
	})
}

func TestBuilders(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{
			name:     "list",
			args:     []string{"builders", "list"},
			routes:   map[string][]reply{"GET /v1/builders": {ok(`{"builders":[` + builderJSON + `,` + disabledBuilderJSON + `]}`)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/builders"}},
			wantOut: "" +
				"NAME     KIND   ARCH   STATE     POOLS          JOBS  FAILURES  LAST-HEARTBEAT        REASON\n" +
				"local-1  metal  amd64  busy      default        1/2   0         2026-05-04T11:59:55Z  -\n" +
				"ec2-7    ec2    arm64  disabled  arm64,default  0/1   3         -                     disk full\n",
		},
		{
			name:     "get",
			args:     []string{"builders", "get", "local-1"},
			routes:   map[string][]reply{"GET /v1/builders/local-1": {ok(builderJSON)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/builders/local-1"}},
			wantOutHas: []string{"name: local-1\n", "state: busy\n", "current_jobs: 01JOB\n",
				"last_heartbeat: 2026-05-04T11:59:55Z (5s ago)\n", "jobs_completed: 7\n"},
		},
		{
			name:     "get --output json",
			args:     []string{"builders", "get", "local-1", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/builders/local-1": {ok(builderJSON)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/builders/local-1"}},
			wantOut:  builderJSON + "\n",
		},
		{
			name:       "disable with a reason",
			args:       []string{"builders", "disable", "ec2-7", "--reason", "disk full"},
			routes:     map[string][]reply{"POST /v1/builders/ec2-7/disable": {ok(disabledBuilderJSON)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/builders/ec2-7/disable", Body: `{"reason":"disk full"}`}},
			wantOutHas: []string{"state: disabled\n", "disabled_reason: disk full\n"},
		},
		{
			name:     "disable needs a reason",
			args:     []string{"builders", "disable", "ec2-7"},
			wantCode: exitUsage,
			wantErr:  []string{"farmctl builders disable: --reason is required\nusage: farmctl builders disable NAME --reason REASON\n"},
		},
		{
			name:       "enable, reason optional",
			args:       []string{"builders", "enable", "ec2-7"},
			routes:     map[string][]reply{"POST /v1/builders/ec2-7/enable": {ok(builderJSON)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/builders/ec2-7/enable", Body: `{"reason":""}`}},
			wantOutHas: []string{"state: busy\n"},
		},
		{
			name:       "enable with a reason",
			args:       []string{"builders", "enable", "--reason", "new disk", "ec2-7"},
			routes:     map[string][]reply{"POST /v1/builders/ec2-7/enable": {ok(builderJSON)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/builders/ec2-7/enable", Body: `{"reason":"new disk"}`}},
			wantOutHas: []string{"name: local-1\n"},
		},
		{
			name:     "an unknown builder",
			args:     []string{"builders", "get", "nope"},
			routes:   map[string][]reply{"GET /v1/builders/nope": {apiError(http.StatusNotFound, "not_found", "builder nope not found")}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/builders/nope"}},
			wantCode: exitError,
			wantErr:  []string{"error: not_found: builder nope not found (request req-42)\n"},
		},
	})
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tokenAnswer := `{"token":"bf_secret","id":"tk1","role":"builder","builder":"local-1"}` + "\n"
	runCases(t, []cliCase{
		{
			name:     "a builder token, shown once",
			args:     []string{"tokens", "create", "--role", "builder", "--builder", "local-1", "--name", "rack 3"},
			routes:   map[string][]reply{"POST /v1/tokens": {created(tokenAnswer)}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/tokens", Body: `{"role":"builder","builder":"local-1","name":"rack 3"}`}},
			wantOut:  "token:    bf_secret\nid:       tk1\nrole:     builder\nbuilder:  local-1\n",
			wantErr:  []string{"it is not shown again"},
		},
		{
			name:     "json for scripts, no note",
			args:     []string{"tokens", "create", "--role", "submitter", "--output", "json"},
			routes:   map[string][]reply{"POST /v1/tokens": {created(tokenAnswer)}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/tokens", Body: `{"role":"submitter"}`}},
			wantOut:  tokenAnswer,
		},
		{
			name:     "only an admin may",
			args:     []string{"tokens", "create", "--role", "admin"},
			routes:   map[string][]reply{"POST /v1/tokens": {apiError(http.StatusForbidden, "forbidden", "admin only")}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/tokens", Body: `{"role":"admin"}`}},
			wantCode: exitError,
			wantErr:  []string{"error: forbidden: admin only (request req-42)\n"},
		},
		{name: "a role is required", args: []string{"tokens", "create"}, wantCode: exitUsage, wantErr: []string{"--role is required"}},
		{name: "a known role", args: []string{"tokens", "create", "--role", "root"}, wantCode: exitUsage, wantErr: []string{`--role must be submitter, builder or admin, not "root"`}},
		{name: "a builder token names its builder", args: []string{"tokens", "create", "--role", "builder"}, wantCode: exitUsage, wantErr: []string{"a builder token needs --builder NAME"}},
		{
			name:   "bound to pools, expiring",
			args:   []string{"tokens", "create", "--role", "builder", "--builder", "b1", "--pools", "default, arm64", "--expires-in", "48h"},
			routes: map[string][]reply{"POST /v1/tokens": {created(`{"token":"bft_x","id":"tk2","role":"builder","builder":"b1","pools":["default","arm64"],"expires_at":"2026-11-25T12:00:00Z"}`)}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/tokens",
				Body: `{"role":"builder","builder":"b1","pools":["default","arm64"],"expires_in_seconds":172800}`}},
			wantOut: "token:    bft_x\nid:       tk2\nrole:     builder\nbuilder:  b1\npools:    default,arm64\nexpires:  2026-11-25T12:00:00Z\n",
			wantErr: []string{"it is not shown again"},
		},
		{name: "pools bind builder tokens only", args: []string{"tokens", "create", "--role", "submitter", "--pools", "default"}, wantCode: exitUsage, wantErr: []string{"--pools binds builder tokens only"}},
		{
			name:     "list, never a secret",
			args:     []string{"tokens", "list"},
			routes:   map[string][]reply{"GET /v1/tokens": {ok(`{"tokens":[{"id":"tk1","role":"submitter","name":"ci","created_by":"admin","created_at":"2026-11-23T12:00:00Z"},{"id":"tk2","role":"builder","builder":"b1","pools":["default"],"created_at":"2026-11-23T12:00:01Z","expires_at":"2026-11-25T12:00:00Z"}]}`)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/tokens"}},
			wantOut: "ID   ROLE       BUILDER  POOLS    NAME  CREATED               EXPIRES               CREATED-BY\n" +
				"tk1  submitter  -        -        ci    2026-11-23T12:00:00Z  -                     admin\n" +
				"tk2  builder    b1       default  -     2026-11-23T12:00:01Z  2026-11-25T12:00:00Z  -\n",
		},
		{
			name:     "revoke",
			args:     []string{"tokens", "revoke", "tk2"},
			routes:   map[string][]reply{"DELETE /v1/tokens/tk2": {{status: http.StatusNoContent}}},
			wantReqs: []wantRequest{{Method: "DELETE", Path: "/v1/tokens/tk2"}},
			wantOut:  "token tk2 revoked\n",
		},
		{
			name:     "revoke an unknown token",
			args:     []string{"tokens", "revoke", "nope"},
			routes:   map[string][]reply{"DELETE /v1/tokens/nope": {apiError(http.StatusNotFound, "not_found", "token not found")}},
			wantReqs: []wantRequest{{Method: "DELETE", Path: "/v1/tokens/nope"}},
			wantCode: exitError,
			wantErr:  []string{"error: not_found: token not found"},
		},
		{name: "revoke names one token", args: []string{"tokens", "revoke"}, wantCode: exitUsage, wantErr: []string{"usage: farmctl tokens revoke ID"}},
	})
}

func TestPools(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{
			name:     "put sends only the given settings",
			args:     []string{"pools", "put", "ppas", "--description", "test PPAs", "--lease-seconds", "3600"},
			routes:   map[string][]reply{"PUT /v1/resource-pools/ppas": {ok(poolJSON)}},
			wantReqs: []wantRequest{{Method: "PUT", Path: "/v1/resource-pools/ppas", Body: `{"description":"test PPAs","lease_seconds":3600}`}},
			wantOut: "" +
				"pool:           ppas\n" +
				"description:    test PPAs\n" +
				"lease_seconds:  3600\n" +
				"clean_script:   ./wipe.sh\n" +
				"created_at:     2026-05-01T00:00:00Z\n" +
				"updated_at:     2026-05-02T00:00:00Z\n",
		},
		{
			name:     "put can clear the description",
			args:     []string{"pools", "put", "ppas", "--description=", "--clean-script", "./wipe.sh", "--output", "json"},
			routes:   map[string][]reply{"PUT /v1/resource-pools/ppas": {ok(poolJSON)}},
			wantReqs: []wantRequest{{Method: "PUT", Path: "/v1/resource-pools/ppas", Body: `{"description":"","clean_script":"./wipe.sh"}`}},
			wantOut:  poolJSON,
		},
		{
			name:       "add-resource with attributes",
			args:       []string{"pools", "add-resource", "ppas", "ppa-3", "--attr", "series=noble", "--attr", "arch=amd64"},
			routes:     map[string][]reply{"POST /v1/resource-pools/ppas/resources": {created(freeResourceJSON)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/resource-pools/ppas/resources", Body: `{"name":"ppa-3","attributes":{"series":"noble","arch":"amd64"}}`}},
			wantOutHas: []string{"resource: ppa-3\n", "state: free\n", "attributes: arch=amd64,series=noble\n"},
		},
		{
			name:       "add-resource without attributes",
			args:       []string{"pools", "add-resource", "ppas", "ppa-3"},
			routes:     map[string][]reply{"POST /v1/resource-pools/ppas/resources": {created(freeResourceJSON)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/resource-pools/ppas/resources", Body: `{"name":"ppa-3"}`}},
			wantOutHas: []string{"resource: ppa-3\n"},
		},
		{name: "an attribute is key=value", args: []string{"pools", "add-resource", "ppas", "ppa-3", "--attr", "noble"}, wantCode: exitUsage, wantErr: []string{`want key=value, not "noble"`}},
		{
			name:     "get: the pool and each resource",
			args:     []string{"pools", "get", "ppas"},
			routes:   map[string][]reply{"GET /v1/resource-pools/ppas": {ok(poolViewJSON)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/resource-pools/ppas"}},
			wantOut: "" +
				"pool:           ppas\n" +
				"description:    test PPAs\n" +
				"lease_seconds:  3600\n" +
				"created_at:     2026-05-01T00:00:00Z\n" +
				"updated_at:     2026-05-02T00:00:00Z\n" +
				"\n" +
				"RESOURCE  STATE  HOLDER  LEASE-EXPIRES         CLEAN-JOB  ATTRIBUTES\n" +
				"ppa-1     used   ci-42   2026-05-04T13:00:00Z  -          series=noble\n" +
				"ppa-2     dirty  -       -                     01CLEAN    -\n",
		},
		{
			name:     "get --output json",
			args:     []string{"pools", "get", "ppas", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/resource-pools/ppas": {ok(poolViewJSON)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/resource-pools/ppas"}},
			wantOut:  poolViewJSON,
		},
		{
			name:     "acquire prints the resource and its lease token",
			args:     []string{"pools", "acquire", "ppas", "--holder", "ci-42", "--lease-seconds", "600"},
			routes:   map[string][]reply{"POST /v1/resource-pools/ppas/acquire": {ok(acquireJSON)}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/resource-pools/ppas/acquire", Body: `{"holder":"ci-42","lease_seconds":600}`}},
			wantOut: "" +
				"resource:          ppa-1\n" +
				"pool:              ppas\n" +
				"attributes:        series=noble\n" +
				"lease_token:       lease-secret\n" +
				"lease_expires_at:  2026-05-04T13:00:00Z\n",
		},
		{
			name:     "acquire from an empty pool is the farm's none_free",
			args:     []string{"pools", "acquire", "ppas", "--holder", "ci-42"},
			routes:   map[string][]reply{"POST /v1/resource-pools/ppas/acquire": {apiError(http.StatusConflict, "none_free", "no free resource in ppas")}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/resource-pools/ppas/acquire", Body: `{"holder":"ci-42"}`}},
			wantCode: exitError,
			wantErr:  []string{"error: none_free: no free resource in ppas (request req-42)\n"},
		},
		{name: "acquire needs a holder", args: []string{"pools", "acquire", "ppas"}, wantCode: exitUsage, wantErr: []string{"--holder is required"}},
		{
			name:       "release with the lease token",
			args:       []string{"pools", "release", "ppas", "ppa-1", "--lease-token", "lease-secret"},
			routes:     map[string][]reply{"POST /v1/resource-pools/ppas/resources/ppa-1/release": {ok(dirtyResourceJSON)}},
			wantReqs:   []wantRequest{{Method: "POST", Path: "/v1/resource-pools/ppas/resources/ppa-1/release", Body: `{"lease_token":"lease-secret"}`}},
			wantOutHas: []string{"resource: ppa-1\n", "state: dirty\n", "clean_job_id: 01CLEAN\n"},
		},
		{
			name:     "release with a stale token",
			args:     []string{"pools", "release", "ppas", "ppa-1", "--lease-token", "old"},
			routes:   map[string][]reply{"POST /v1/resource-pools/ppas/resources/ppa-1/release": {apiError(http.StatusConflict, "conflict", "stale lease token")}},
			wantReqs: []wantRequest{{Method: "POST", Path: "/v1/resource-pools/ppas/resources/ppa-1/release", Body: `{"lease_token":"old"}`}},
			wantCode: exitError,
			wantErr:  []string{"error: conflict: stale lease token (request req-42)\n"},
		},
		{name: "release needs the token", args: []string{"pools", "release", "ppas", "ppa-1"}, wantCode: exitUsage, wantErr: []string{"--lease-token is required"}},
		{name: "release needs the resource", args: []string{"pools", "release", "ppas", "--lease-token", "t"}, wantCode: exitUsage, wantErr: []string{"usage: farmctl pools release POOL RESOURCE --lease-token TOKEN"}},
	})
}

func TestHealthAndVersion(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{
			name:     "health",
			args:     []string{"health"},
			routes:   map[string][]reply{"GET /v1/health": {ok(`{"status":"ok"}`)}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/health"}},
			wantOut:  "ok\n",
		},
		{
			name:     "health json",
			args:     []string{"health", "--output", "json"},
			routes:   map[string][]reply{"GET /v1/health": {ok(`{"status":"ok"}` + "\n")}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/health"}},
			wantOut:  `{"status":"ok"}` + "\n",
		},
		{
			name:     "an unhealthy farm",
			args:     []string{"health"},
			routes:   map[string][]reply{"GET /v1/health": {reply{status: http.StatusBadGateway, body: "<html>bad gateway</html>", contentType: "text/html"}}},
			wantReqs: []wantRequest{{Method: "GET", Path: "/v1/health"}},
			wantCode: exitError,
			wantErr:  []string{"error: unavailable: GET /v1/health: <html>bad gateway</html>\n"},
		},
		{
			name:       "version needs no farm",
			args:       []string{"version", "--api", "not a url"},
			wantOutHas: []string{"farmctl "},
		},
		{
			name:       "version json",
			args:       []string{"version", "--output", "json"},
			wantOutHas: []string{`{"version":"`, `"go":"go`},
		},
	})
}
