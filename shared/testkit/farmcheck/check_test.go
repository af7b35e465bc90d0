package farmcheck

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

func events(path ...farm.JobStatus) []farm.JobEvent {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []farm.JobEvent
	for i := 1; i < len(path); i++ {
		out = append(out, farm.JobEvent{Seq: farm.SeqFor(int64(i)), At: t0.Add(time.Duration(i) * time.Second), From: path[i-1], To: path[i]})
	}
	return out
}

func TestHistory(t *testing.T) {
	t.Parallel()
	const (
		none      = farm.JobStatus("")
		queued    = farm.StatusQueued
		running   = farm.StatusRunning
		succeeded = farm.StatusSucceeded
	)
	cases := []struct {
		name   string
		status farm.JobStatus
		evs    []farm.JobEvent
		want   string // part of the violation; "" for none
	}{
		{"complete", succeeded, events(none, queued, running, succeeded), ""},
		{"requeued by the reaper", succeeded, events(none, queued, running, queued, running, succeeded), ""},
		{"waiting first", queued, events(none, farm.StatusWaiting, queued), ""},
		{"no events", queued, nil, "no events"},
		{"creation missing", succeeded, events(queued, running, succeeded), "not the creation"},
		{"running event missing", succeeded, append(events(none, queued), events(running, queued, running, succeeded)...), "an event is missing"},
		{"terminal event missing", succeeded, events(none, queued, running), "the last event ends at running but the job is succeeded"},
		{"not a transition", succeeded, events(none, queued, succeeded), "not a transition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := c.evs
			for i := range evs {
				evs[i].Seq = farm.SeqFor(int64(i + 1))
				evs[i].At = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
			}
			vs := History(&farm.Job{ID: "j", Status: c.status}, evs)
			got := ""
			for _, v := range vs {
				got += v.Detail + "\n"
			}
			if (c.want == "") != (len(vs) == 0) || !strings.Contains(got, c.want) {
				t.Fatalf("violations %q, want one with %q", got, c.want)
			}
		})
	}
	// Order: sequence numbers rise, times never go back.
	evs := events(none, queued, running, succeeded)
	evs[2].Seq = evs[1].Seq
	evs[2].At = evs[0].At.Add(-time.Second)
	if vs := History(&farm.Job{ID: "j", Status: succeeded}, evs); len(vs) != 2 {
		t.Fatalf("out of order history: %v", vs)
	}
}

func TestRunsAndKeys(t *testing.T) {
	t.Parallel()
	s := &Snapshot{
		Jobs: map[string]*farm.Job{
			"once":      {ID: "once", Status: farm.StatusSucceeded, Attempts: 1, IdempotencyKey: "k1"},
			"twice":     {ID: "twice", Status: farm.StatusSucceeded, Attempts: 2, IdempotencyKey: "k2"},
			"requeued":  {ID: "requeued", Status: farm.StatusSucceeded, Attempts: 2, IdempotencyKey: "k3"},
			"ghost":     {ID: "ghost", Status: farm.StatusSucceeded, Attempts: 2, IdempotencyKey: "k4"},
			"duplicate": {ID: "duplicate", Status: farm.StatusSucceeded, Attempts: 1, IdempotencyKey: "k1"},
		},
		Events: map[string][]farm.JobEvent{
			"requeued": events("", farm.StatusQueued, farm.StatusRunning, farm.StatusQueued, farm.StatusRunning, farm.StatusSucceeded),
			"ghost":    events("", farm.StatusQueued, farm.StatusRunning, farm.StatusQueued, farm.StatusRunning, farm.StatusSucceeded),
		},
	}
	s.All = s.Jobs
	vs := s.Runs(map[string]int{"once": 1, "twice": 2, "requeued": 2, "ghost": 1, "duplicate": 1})
	if len(vs.Of(PromiseRunOnce)) != 1 || vs.Of(PromiseRunOnce)[0].JobID != "twice" {
		t.Errorf("run-once violations %v, want job twice only", vs.Of(PromiseRunOnce))
	}
	if c := vs.Of(PromiseClaimRuns); len(c) != 1 || c[0].JobID != "ghost" {
		t.Errorf("claim-runs violations %v, want job ghost only (claimed twice, run once)", c)
	}
	subs := []Submission{{Key: "k1", JobID: "once"}, {Key: "k3", JobID: "requeued"}, {Key: "k4", Status: 409, Code: "conflict"}, {Key: "k9", Status: 503, Code: "unavailable"}}
	if vs := s.OnePerKey(subs); len(vs) != 1 || vs[0].Key != "k1" {
		t.Errorf("key violations %v, want k1's two jobs", vs)
	}
	vs = s.Submissions(subs)
	if len(vs) != 2 || !strings.Contains(vs[0].Detail, "yet its job exists") || vs[0].JobID != "ghost" || strings.Contains(vs[1].Detail, "exists") {
		t.Errorf("submission violations %v", vs)
	}
	ended := s.JobsEnded([]Submission{{JobID: "once"}, {JobID: "missing"}})
	if len(ended) != 1 || ended[0].Promise != PromiseNotLost {
		t.Errorf("ended violations %v", ended)
	}
}

func TestAnswersAreRecordedAndChecked(t *testing.T) {
	t.Parallel()
	a := &Answers{}
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("answer") {
		case "500":
			w.WriteHeader(500)
			w.Write([]byte(`{"error":{"code":"internal","message":"internal error"}}`))
		case "503":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"try again"}}`))
		case "503-bare":
			w.WriteHeader(503)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"try again"}}`))
		case "409":
			w.WriteHeader(409)
			w.Write([]byte(`{"error":{"code":"conflict","message":"stale"}}`))
		default:
			w.Write([]byte("{}"))
		}
	}))
	for _, target := range []string{
		"/v1/jobs/01M8TK9A64JA9C12S5EKC8SMDG?answer=500",
		"/v1/jobs?answer=503",
		"/v1/jobs?answer=503-bare",
		"/v1/jobs/01M8TK9A64JA9C12S5EKC8SMDG/complete?answer=409",
		"/v1/builders/b-1/claim?answer=409",
		"/v1/jobs/01M8TK9A64JA9C12S5EKC8SMDG/cancel?answer=409",
		"/v1/health",
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", target, nil))
	}
	vs := a.Check()
	if n := len(vs.Of(PromiseAnswers)); n != 2 {
		t.Errorf("%d answer violations (want the 500 and the 503 without Retry-After): %v", n, vs)
	}
	if len(vs.Of(PromiseCompletion)) != 1 || len(vs.Of(PromiseClaim)) != 1 {
		t.Errorf("completion/claim violations: %v", vs)
	}
	tally := a.Tally()
	if tally["POST /v1/jobs/{id}"][500] != 1 || tally["POST /v1/builders/{name}/claim"][409] != 1 || tally["POST /v1/health"][200] != 1 {
		t.Errorf("tally %v", tally)
	}
	if a.Count(503) != 2 {
		t.Errorf("503s counted %d", a.Count(503))
	}
	var b strings.Builder
	a.WriteRefusals(&b)
	if !strings.Contains(b.String(), "1 × POST /v1/jobs/{id}/cancel 409 conflict: stale") {
		t.Errorf("refusals:\n%s", b.String())
	}
}
