package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

func TestRouteOf(t *testing.T) {
	for _, tc := range []struct {
		method, path, route, phase string
	}{
		{"POST", "/v1/jobs", "POST /v1/jobs", phaseSubmit},
		{"POST", "/v1/builders/b-1/claim", "POST /v1/builders/{name}/claim", phaseClaim},
		{"POST", "/v1/builders/b-1/heartbeat", "POST /v1/builders/{name}/heartbeat", phaseHeartbeat},
		{"PUT", "/v1/builders/b-1", "PUT /v1/builders/{name}", phaseSetup},
		{"POST", "/v1/jobs/01ABC/complete", "POST /v1/jobs/{id}/complete", phaseComplete},
		{"POST", "/v1/jobs/01ABC/artifacts", "POST /v1/jobs/{id}/artifacts", phaseComplete},
		{"POST", "/v1/tokens", "POST /v1/tokens", phaseSetup},
		{"GET", "/v1/jobs/01ABC", "GET /v1/jobs", phaseObserve},
		{"POST", "/v1/jobs/01ABC/cancel", "POST /v1/jobs", phaseOther},
		{"GET", "/metrics", "GET /metrics", phaseOther},
	} {
		route, phase := routeOf(tc.method, tc.path)
		if route != tc.route || phase != tc.phase {
			t.Errorf("%s %s: got %q %q, want %q %q", tc.method, tc.path, route, phase, tc.route, tc.phase)
		}
	}
}

// TestObserverSeesClaimsAndCompletions drives the wrapper with a fake API.
func TestObserverSeesClaimsAndCompletions(t *testing.T) {
	o := newObserver()
	var phases []string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		phases = append(phases, awscalls.PhaseOf(r.Context()))
		switch {
		case strings.HasSuffix(r.URL.Path, "/claim") && strings.Contains(r.URL.Path, "b-2"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/claim"):
			w.Write([]byte(`{"job":{"id":"J1"},"claim_token":"t"}`))
		default:
			w.Write([]byte(`{}`))
		}
	})
	srv := httptest.NewServer(o.wrap(api))
	defer srv.Close()
	for _, p := range []string{"/v1/builders/b-1/claim", "/v1/builders/b-2/claim", "/v1/jobs/J1/complete"} {
		resp, err := http.Post(srv.URL+p, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if c, ok := o.claimOf("J1"); !ok || c.Builder != "b-1" || c.Status != 200 || c.End.Before(c.Start) {
		t.Errorf("claim of J1: %+v %v", c, ok)
	}
	if err := o.waitUntil(context.Background(), func(o *observer) bool { return o.completedCount(map[string]bool{"J1": true}) == 1 }); err != nil {
		t.Fatal(err)
	}
	routes := o.routeSnapshot()
	if c := routes["POST /v1/builders/{name}/claim"]; c.Requests != 2 || c.NoContent != 1 || c.Status2xx != 2 {
		t.Errorf("claims: %+v", c)
	}
	if got := strings.Join(phases, ","); got != "claim,claim,complete" {
		t.Errorf("phases on the request contexts: %s", got)
	}
	if d := subRoutes(o.routeSnapshot(), routes); len(d) != 0 {
		t.Errorf("nothing happened in between: %+v", d)
	}
}

func TestJudgeClaims(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	jobs := []queued{
		{id: "01A", score: 0, returned: at(0)},
		{id: "01B", score: 50, returned: at(1)},
		{id: "01C", score: 50, returned: at(2)}, // same score as B, younger
		{id: "01D", score: -25, returned: at(3)},
	}
	claim := func(builder, id string, start, end int) claimObs {
		return claimObs{Builder: builder, JobID: id, Start: at(start), End: at(end), Status: 200}
	}
	good := []claimObs{
		claim("b1", "01B", 10, 12),
		claim("b2", "01C", 11, 13), // overlapped B's claim: B was not certainly free
		{Builder: "b1", Start: at(14), End: at(15), Status: 204},
		claim("b1", "01A", 20, 21),
		claim("b2", "01D", 22, 23),
	}
	res := judgeClaims(jobs, good)
	if res.Claims != 4 || res.Violations != 0 || res.FractionHighestFirst != 1 || res.WithChoice != 3 {
		t.Errorf("in order: %+v", res)
	}
	// Taking A while B (higher score) certainly waited is a violation; so is
	// taking C before the older B of the same score.
	bad := []claimObs{
		claim("b1", "01A", 10, 12),
		claim("b1", "01C", 20, 21),
		claim("b1", "01B", 30, 31),
		claim("b1", "01D", 40, 41),
	}
	res = judgeClaims(jobs, bad)
	if res.Claims != 4 || res.Violations != 2 || res.FractionHighestFirst != 0.5 || len(res.Examples) != 2 {
		t.Errorf("out of order: %+v", res)
	}
	// A job submitted after the claim began is not held against it.
	late := []queued{{id: "01A", score: 0, returned: at(0)}, {id: "01Z", score: 99, returned: at(11)}}
	res = judgeClaims(late, []claimObs{claim("b1", "01A", 10, 12), claim("b1", "01Z", 20, 21)})
	if res.Violations != 0 || res.Claims != 2 {
		t.Errorf("late submission: %+v", res)
	}
}

func TestSplitReceivesAndPhases(t *testing.T) {
	calls := awscalls.Calls{
		{Key: awscalls.Key{Service: "SQS", Operation: "ReceiveMessage", Resource: "bench-x-pool-default"}, Stat: awscalls.Stat{Calls: 10, Attempts: 10, Nanos: 99, Usage: awscalls.Usage{Records: 4, NonEmpty: 4}}},
		{Key: awscalls.Key{Service: "SQS", Operation: "DeleteMessage", Resource: "bench-x-pool-default"}, Stat: awscalls.Stat{Calls: 4, Attempts: 4}},
		{Key: awscalls.Key{Service: "S3", Operation: "PresignedPUT"}, Stat: awscalls.Stat{Calls: 4, Attempts: 4}},
	}
	fr := &farmRun{top: testTopology(t)}
	got := fr.agentPhases(calls)
	want := map[awscalls.Key]int64{
		{Service: "SQS", Operation: "ReceiveMessage", Resource: "pool-default", Phase: phaseClaim}:    4,
		{Service: "SQS", Operation: "ReceiveMessage", Resource: "pool-default", Phase: phaseIdlePoll}: 6,
		{Service: "SQS", Operation: "DeleteMessage", Resource: "pool-default", Phase: phaseClaim}:     4,
		{Service: "S3", Operation: "PresignedPUT", Phase: phaseComplete}:                              4,
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for _, e := range got {
		if want[e.Key] != e.Calls {
			t.Errorf("%+v: %d calls, want %d", e.Key, e.Calls, want[e.Key])
		}
		if e.Operation == "ReceiveMessage" && e.Nanos != 0 {
			t.Errorf("a receive's wait is not work: %+v", e)
		}
	}
	// The farm's own SQS poller feeds ingest (the farm has no lease timers).
	farmCalls := awscalls.Calls{
		{Key: awscalls.Key{Service: "SQS", Operation: "DeleteMessage", Resource: "bench-x-ingest", Phase: phaseSQSPoller}, Stat: awscalls.Stat{Calls: 1}},
	}
	for _, e := range fr.farmPhases(farmCalls) {
		if e.Resource != "ingest" || e.Phase != phaseIngest {
			t.Errorf("phase of %+v", e.Key)
		}
	}
}

func TestLifecycleArithmetic(t *testing.T) {
	k := func(phase, svc, op, res string) awscalls.Key {
		return awscalls.Key{Phase: phase, Service: svc, Operation: op, Resource: res}
	}
	calls := awscalls.Calls{
		{Key: k(phaseSubmit, "DynamoDB", "PutItem", "jobs"), Stat: awscalls.Stat{Calls: 4, Attempts: 4, Usage: awscalls.Usage{WriteUnits: 20, ItemBytes: 2000, MaxItemBytes: 600}}},
		{Key: k(phaseSubmit, "SQS", "SendMessage", "pool-default"), Stat: awscalls.Stat{Calls: 4, Attempts: 5}},
		{Key: k(phaseComplete, "DynamoDB", "UpdateItem", "jobs"), Stat: awscalls.Stat{Calls: 4, Attempts: 4, Usage: awscalls.Usage{WriteUnits: 8, ItemBytes: 1600, MaxItemBytes: 400}}},
		{Key: k(phaseComplete, "S3", "PresignedPUT", ""), Stat: awscalls.Stat{Calls: 4, Attempts: 4}},
		{Key: k(phaseComplete, "S3", "HeadObject", ""), Stat: awscalls.Stat{Calls: 4, Attempts: 4}},
		{Key: k(phaseStream, "DynamoDB Streams", "GetRecords", ""), Stat: awscalls.Stat{Calls: 100, Attempts: 100, Usage: awscalls.Usage{Records: 12, NonEmpty: 8}}},
		{Key: k(phaseDispatch, "DynamoDB", "GetItem", "jobs"), Stat: awscalls.Stat{Calls: 12, Attempts: 12, Nanos: int64(4 * time.Second), Usage: awscalls.Usage{ReadUnits: 12}}},
		// A lease timer of a job claimed before the window: left out.
		{Key: k(phaseLease, "DynamoDB", "GetItem", "jobs"), Stat: awscalls.Stat{Calls: 3, Attempts: 3, Usage: awscalls.Usage{ReadUnits: 3}}},
	}
	routes := map[string]RouteStat{
		"POST /v1/jobs":                      {Phase: phaseSubmit, Requests: 4, BilledMillis: 400},
		"POST /v1/jobs/{id}/complete":        {Phase: phaseComplete, Requests: 4, BilledMillis: 400},
		"POST /v1/builders/{name}/heartbeat": {Phase: phaseHeartbeat, Requests: 8, BilledMillis: 800},
	}
	logs := map[string]LogStat{
		phaseSubmit:    {Lines: 4, Bytes: 1000},
		phaseComplete:  {Lines: 8, Bytes: 2000},
		phaseHeartbeat: {Lines: 8, Bytes: 99999}, // time-based, not per job
	}
	l := newLifecycle("t", 4, share{window: window{calls: calls, routes: routes, logs: logs, seconds: 10}, div: 4, keep: notLease})
	if l.CallsPerJob != 1+1+1+1+1+3 {
		t.Errorf("calls per job: %v", l.CallsPerJob)
	}
	if _, ok := l.Phases[phaseLease]; ok {
		t.Errorf("lease timers of earlier jobs counted: %+v", l.Phases[phaseLease])
	}
	if l.APIRequestsPerJob != 2 {
		t.Errorf("API requests per job (heartbeats are not per job): %v", l.APIRequestsPerJob)
	}
	if sub, done := l.Phases[phaseSubmit], l.Phases[phaseComplete]; sub.WriteUnits != 5 || done.WriteUnits != 2 || sub.LogBytes != 250 || done.LogBytes != 500 {
		t.Errorf("per phase: submit %+v, complete %+v", sub, done)
	}
	u := l.Usage
	if u.DynamoDBWriteUnits != 7 || u.DynamoDBReadUnits != 3 || u.SQSRequests != 1.25 || u.S3PutRequests != 1 || u.S3GetRequests != 1 {
		t.Errorf("usage: %+v", u)
	}
	// 2 api invocations (100 ms each at 0.5 GB) + 2 dispatch invocations sharing 1 s of calls at 0.25 GB.
	if u.LambdaInvocations != 4 || u.LambdaGBSeconds != 0.1+0.25 {
		t.Errorf("lambda: %+v", u)
	}
	// The submission takes the HTTP API; the completion the builders' edge.
	wantGW, wantURL := 2.0, 0.0
	if topology.BuilderAPIEdge == topology.EdgeFunctionURL {
		wantGW, wantURL = 1, 1
	}
	if u.APIRequests != wantGW || u.FunctionURLRequests != wantURL {
		t.Errorf("API Gateway %v, function URL %v requests; want %v, %v", u.APIRequests, u.FunctionURLRequests, wantGW, wantURL)
	}
	// Log bytes: the functions' own lines (750 per job) and Lambda's for
	// each of the 4 invocations per job.
	if want := 750 + 4*platformLogBytes(topology.LambdaSystemLogLevel); u.CloudWatchLogsBytes != want {
		t.Errorf("log bytes per job %v, want %v", u.CloudWatchLogsBytes, want)
	}
	if w := l.Writes["PutItem jobs"]; w.CallsPerJob != 1 || w.AvgItemBytes != 500 || w.MaxItemBytes != 600 || w.WriteUnitsPerCall != 5 {
		t.Errorf("writes: %+v", w)
	}
	if w := l.Writes["UpdateItem jobs"]; w.CallsPerJob != 1 || w.WriteUnitsPerCall != 2 {
		t.Errorf("update writes: %+v", w)
	}
	if l.Background[phaseStream] != 10 {
		t.Errorf("background: %+v", l.Background)
	}
	if l.Cost.Total <= 0 || l.Cost.Total != ListPrices.PerMillion(l.Usage).Total || l.Cost.CloudWatchLogs <= 0 {
		t.Errorf("cost: %+v", l.Cost)
	}
}

// Builders' requests are priced by the edge topology says they take.
func TestAPIRequestUsageByEdge(t *testing.T) {
	sub := apiRequestUsage("POST /v1/jobs", 10, 50)
	if sub.APIRequests != 10 || sub.FunctionURLRequests != 0 || sub.LambdaInvocations != 10 || sub.LambdaGBSeconds != 0.025 {
		t.Errorf("submissions: %+v", sub)
	}
	for _, route := range builderRoutes {
		u := apiRequestUsage(route, 10, 50)
		viaURL := topology.BuilderAPIEdge == topology.EdgeFunctionURL
		if (u.FunctionURLRequests == 10) != viaURL || (u.APIRequests == 10) == viaURL || u.LambdaInvocations != 10 {
			t.Errorf("%s with builders on %s: %+v", route, topology.BuilderAPIEdge, u)
		}
		if got := ListPrices.PerMillion(u); viaURL && got.APIGateway != 0 {
			t.Errorf("%s: function URL requests priced as API Gateway: %+v", route, got)
		}
	}
	for _, route := range builderRoutes {
		if r, _ := routeOf(strings.Fields(route)[0], strings.NewReplacer("{name}", "b-1", "{id}", "J1").Replace(strings.Fields(route)[1])); r != route {
			t.Errorf("builder route %q is not a route the observer names (%q)", route, r)
		}
	}
}

func TestFakeRuntime(t *testing.T) {
	rt := newFakeRuntime()
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/2018-06-01/runtime/invocation/next", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-rt.ready // the function asked for work: it is ready
	cancel()   // the runtime never answers; the function is killed instead
	<-done
	resp, err := http.Post(srv.URL+"/2018-06-01/runtime/init/error", "application/json", strings.NewReader(`{"errorMessage":"boom"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if msg := <-rt.initErr; !strings.Contains(msg, "boom") {
		t.Errorf("init error: %q", msg)
	}
}

func testTopology(t *testing.T) *topology.Topology {
	t.Helper()
	top, err := topology.New("bench-x", []string{"default"})
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// The classifier names the farm's workers by their package paths: each
// must still be a package of the repository (they moved once unnoticed).
func TestCallerPrefixesNamePackages(t *testing.T) {
	for _, c := range callers {
		pkg, _, ok := strings.Cut(c.prefix, ".")
		if !ok {
			t.Fatalf("prefix %q names no function", c.prefix)
		}
		files, err := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("prefix %q: no package %s", c.prefix, pkg)
		}
	}
}
