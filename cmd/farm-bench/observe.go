package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// Phases of a job's life, and of everything else the farm does.
const (
	phaseSubmit    = "submit"
	phaseDispatch  = "dispatch"    // the stream dispatcher's work per change
	phaseClaim     = "claim"       // doorbell receive/delete, claim request
	phaseHeartbeat = "heartbeat"   // heartbeat requests
	phaseComplete  = "complete"    // log/artifact upload and completion
	phaseLease     = "lease_check" // lease timers firing (reaper)
	phaseStream    = "stream"      // reading the jobs stream (free in AWS: the Lambda trigger does it)
	phaseReaper    = "reaper"      // scheduled reaper passes (time-based)
	phaseIngest    = "ingest"
	phaseIdlePoll  = "idle_poll" // empty doorbell long polls (time-based)
	phaseSetup     = "setup"     // tokens, builder registration
	phaseObserve   = "observe"   // reads (the benchmark makes none in measured windows)
	phaseOther     = "other"
)

// routeOf names an API request's route and phase.
func routeOf(method, path string) (route, phase string) {
	s := strings.Split(strings.Trim(path, "/"), "/")
	if len(s) < 2 || s[0] != "v1" {
		return method + " " + path, phaseOther
	}
	switch {
	case method == http.MethodGet:
		return "GET /v1/" + s[1], phaseObserve
	case method == http.MethodPost && len(s) == 2 && s[1] == "jobs":
		return "POST /v1/jobs", phaseSubmit
	case method == http.MethodPost && len(s) == 4 && s[1] == "builders" && s[3] == "claim":
		return "POST /v1/builders/{name}/claim", phaseClaim
	case method == http.MethodPost && len(s) == 4 && s[1] == "builders" && s[3] == "heartbeat":
		return "POST /v1/builders/{name}/heartbeat", phaseHeartbeat
	case method == http.MethodPut && len(s) == 3 && s[1] == "builders":
		return "PUT /v1/builders/{name}", phaseSetup
	case method == http.MethodPost && len(s) == 4 && s[1] == "jobs" && s[3] == "complete":
		return "POST /v1/jobs/{id}/complete", phaseComplete
	case method == http.MethodPost && len(s) == 4 && s[1] == "jobs" && s[3] == "artifacts":
		return "POST /v1/jobs/{id}/artifacts", phaseComplete
	case method == http.MethodPost && len(s) == 2 && s[1] == "tokens":
		return "POST /v1/tokens", phaseSetup
	}
	return method + " /v1/" + s[1], phaseOther
}

// RouteStat is what the API served on one route.
type RouteStat struct {
	Phase    string `json:"phase"`
	Requests int64  `json:"requests"`
	// Status2xx counts successes; NoContent the 204s among them (claims that found nothing).
	Status2xx int64 `json:"status_2xx"`
	NoContent int64 `json:"status_204"`
	// Nanos sums handler times; BilledMillis sums them rounded up to the
	// millisecond each, as Lambda bills.
	Nanos        int64 `json:"nanos"`
	BilledMillis int64 `json:"billed_millis"`
}

// claimObs is one claim request as the API saw it.
type claimObs struct {
	Builder    string
	Start, End time.Time
	Status     int
	JobID      string
}

// observer wraps the farm's API handler. It labels every request's AWS
// calls with its phase, times requests by route and tells the benchmark
// about claims and completions as they are answered — without a single
// extra call to the farm.
type observer struct {
	mu        sync.Mutex
	routes    map[string]*RouteStat
	claims    []claimObs
	claimed   map[string]claimObs  // job id -> its (last) successful claim
	completed map[string]time.Time // job id -> completion answered
	puts      map[string]int       // builder -> registrations answered
	beats     map[int]*beatStat    // jobs in the heartbeat -> its calls
	changed   chan struct{}
}

// beatStat sums the AWS calls of the heartbeats that carried a number of jobs.
type beatStat struct {
	Count int
	Calls awscalls.Calls
}

func newObserver() *observer {
	return &observer{
		routes: map[string]*RouteStat{}, claimed: map[string]claimObs{}, completed: map[string]time.Time{},
		puts: map[string]int{}, beats: map[int]*beatStat{}, changed: make(chan struct{}),
	}
}

type recorder struct {
	http.ResponseWriter
	status int
	body   *bytes.Buffer // kept for claims only
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body != nil && r.body.Len() < 1<<20 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (o *observer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, phase := routeOf(r.Method, r.URL.Path)
		rec := &recorder{ResponseWriter: w}
		if phase == phaseClaim {
			rec.body = &bytes.Buffer{}
		}
		ctx := awscalls.WithPhase(r.Context(), phase)
		var tally *awscalls.Counter
		beatJobs := -1
		if phase == phaseHeartbeat {
			// Count this heartbeat's own calls, by the number of jobs it renews.
			tally = awscalls.New()
			ctx = awscalls.WithTally(ctx, tally)
			body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			var hb struct {
				Jobs []json.RawMessage `json:"jobs"`
			}
			_ = json.Unmarshal(body, &hb)
			beatJobs = len(hb.Jobs)
		}
		start := time.Now()
		h.ServeHTTP(rec, r.WithContext(ctx))
		end := time.Now()
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if tally != nil {
			o.recordBeat(beatJobs, tally.Snapshot())
		}
		o.record(route, phase, r.URL.Path, rec, start, end)
	})
}

func (o *observer) recordBeat(jobs int, calls awscalls.Calls) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.beats[jobs]
	if b == nil {
		b = &beatStat{}
		o.beats[jobs] = b
	}
	b.Count++
	b.Calls = awscalls.Merge(b.Calls, calls)
}

// beatsSnapshot copies the heartbeat tallies.
func (o *observer) beatsSnapshot() map[int]beatStat {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[int]beatStat{}
	for k, v := range o.beats {
		out[k] = *v
	}
	return out
}

func (o *observer) record(route, phase, path string, rec *recorder, start, end time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.routes[route]
	if st == nil {
		st = &RouteStat{Phase: phase}
		o.routes[route] = st
	}
	d := end.Sub(start)
	st.Requests++
	st.Nanos += int64(d)
	st.BilledMillis += int64((d + time.Millisecond - 1) / time.Millisecond)
	ok := rec.status >= 200 && rec.status < 300
	if ok {
		st.Status2xx++
	}
	if rec.status == http.StatusNoContent {
		st.NoContent++
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case phase == phaseClaim:
		c := claimObs{Builder: seg[2], Start: start, End: end, Status: rec.status}
		if rec.status == http.StatusOK {
			var body struct {
				Job struct {
					ID string `json:"id"`
				} `json:"job"`
			}
			if json.Unmarshal(rec.body.Bytes(), &body) == nil {
				c.JobID = body.Job.ID
				o.claimed[c.JobID] = c
			}
		}
		o.claims = append(o.claims, c)
	case route == "POST /v1/jobs/{id}/complete" && ok:
		o.completed[seg[2]] = end
	case route == "PUT /v1/builders/{name}" && ok:
		o.puts[seg[2]]++
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// waitUntil blocks until cond (called with the observer locked) holds.
func (o *observer) waitUntil(ctx context.Context, cond func(o *observer) bool) error {
	for {
		o.mu.Lock()
		ok := cond(o)
		ch := o.changed
		o.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// claimOf returns the claim of job id, if answered.
func (o *observer) claimOf(id string) (claimObs, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, ok := o.claimed[id]
	return c, ok
}

func (o *observer) completedCount(ids map[string]bool) int {
	n := 0
	for id := range ids {
		if _, ok := o.completed[id]; ok {
			n++
		}
	}
	return n
}

// lastCompletion is the latest completion among ids.
func (o *observer) lastCompletion(ids map[string]bool) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var last time.Time
	for id := range ids {
		if t, ok := o.completed[id]; ok && t.After(last) {
			last = t
		}
	}
	return last
}

func (o *observer) claimList() []claimObs {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]claimObs(nil), o.claims...)
}

// routeSnapshot copies the route counts.
func (o *observer) routeSnapshot() map[string]RouteStat {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]RouteStat, len(o.routes))
	for k, v := range o.routes {
		out[k] = *v
	}
	return out
}

// subRoutes returns after minus before.
func subRoutes(after, before map[string]RouteStat) map[string]RouteStat {
	out := map[string]RouteStat{}
	for k, a := range after {
		b := before[k]
		d := RouteStat{
			Phase: a.Phase, Requests: a.Requests - b.Requests, Status2xx: a.Status2xx - b.Status2xx,
			NoContent: a.NoContent - b.NoContent, Nanos: a.Nanos - b.Nanos, BilledMillis: a.BilledMillis - b.BilledMillis,
		}
		if d.Requests > 0 {
			out[k] = d
		}
	}
	return out
}
