package main

import (
	"strings"
	"testing"
)

// farmctl never sends a token over plain http to another machine: the URL
// is refused before any request, whether from --api or FARM_API.
func TestPlainHTTPIsRefusedExceptToLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"queue", "--api", "http://farm.example.com"}, nil},
		{[]string{"--api", "http://10.1.2.3:8080/v1", "jobs", "list"}, nil},
		{[]string{"health"}, map[string]string{"FARM_API": "http://farm.internal:8080"}},
	} {
		got := runFarmctl(t, nil, tc.env, "", tc.args...)
		if got.code != exitUsage || !strings.Contains(got.stderr, "plain http is allowed to a loopback address only") || !strings.Contains(got.stderr, "use https") {
			t.Errorf("%v %v: exit %d, stderr %q", tc.args, tc.env, got.code, got.stderr)
		}
	}
	f := newFakeFarm(t, map[string][]reply{"GET /v1/health": {ok(`{"status":"ok"}`)}})
	if got := runFarmctl(t, f, nil, "", "health"); got.code != exitOK {
		t.Fatalf("a loopback farm over http: exit %d, stderr %q", got.code, got.stderr)
	}
}
