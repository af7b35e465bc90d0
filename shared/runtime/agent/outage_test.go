package agent_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
)

// outage puts the fake farm's API down (every call answered 503, as the
// API answers when its dependencies are down) and up again, and records
// the calls it let through.
type outage struct {
	mu    sync.Mutex
	down  bool
	calls []string // "PUT register", "POST complete <job id>", ... while up
}

func newOutage(f *fakeFarm) *outage {
	o := &outage{}
	next := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		down := o.down
		if !down && strings.HasPrefix(r.URL.Path, "/v1/") {
			o.calls = append(o.calls, callName(r))
		}
		o.mu.Unlock()
		if down {
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, farm.EUnavailable, "a dependency of the farm is unavailable")
			return
		}
		next.ServeHTTP(w, r)
	})
	return o
}

func callName(r *http.Request) string {
	switch {
	case r.Method == http.MethodPut:
		return "register"
	case strings.HasSuffix(r.URL.Path, "/complete"):
		return "complete " + strings.Split(r.URL.Path, "/")[3]
	}
	return r.Method + " " + r.URL.Path
}

func (o *outage) set(down bool) {
	o.mu.Lock()
	o.down = down
	o.mu.Unlock()
}

func (o *outage) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// gatedScript is a job that runs until the test creates its gate file.
func gatedScript(t *testing.T) (script, gate string) {
	dir := t.TempDir()
	gate = filepath.Join(dir, "go")
	return `while [ ! -e ` + gate + ` ]; do sleep 0.05; done; echo ran >> ` + filepath.Join(dir, "runs"), gate
}

// The API goes down while a job runs; the job runs on, ends during the
// outage, and its result reaches the farm once the API is back — once.
func TestAResultOutlivesAnAPIOutage(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	o := newOutage(f)
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	h := start(t, f, b, cfg)
	f.waitFor("registration", func() bool { return f.registrations == 1 })
	script, gate := gatedScript(t)
	job := f.script("default", script, nil)
	b.ring(f, "default", job.ID)
	f.waitFor("the job to run", func() bool { return f.jobs[job.ID] != nil })

	o.set(true)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The job ends, its completion fails against the outage and waits in
	// the spool.
	waitSpool(t, cfg, func(n int) bool { return n == 1 })
	time.Sleep(300 * time.Millisecond) // a few completion retries, all refused
	o.set(false)

	c := f.awaitCompletion(job.ID)
	if !c.Accepted || c.Req.Result != "succeeded" {
		t.Fatalf("completion after the outage: %+v", c)
	}
	if err := h.drain(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, call := range o.seen() {
		if call == "complete "+job.ID {
			n++
		}
	}
	f.locked(func() {
		if n != 1 || len(f.completions) != 1 {
			t.Errorf("the farm got %d completion calls (%+v), want the result once", n, f.completions)
		}
	})
	waitSpool(t, cfg, func(n int) bool { return n == 0 })
}

// A result the agent could not deliver before it stopped hard is sent by
// its next run before it registers (before the farm takes the old run's
// claims back); a spooled result whose claim went stale meanwhile is
// dropped.
func TestTheNextRunSendsTheSpooledResultsFirst(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	o := newOutage(f)
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.Spec.Slots = 2
	h := start(t, f, b, cfg)
	f.waitFor("registration", func() bool { return f.registrations == 1 })
	var jobs []*farm.Job
	var gates []string
	for range 2 {
		script, gate := gatedScript(t)
		job := f.script("default", script, nil)
		b.ring(f, "default", job.ID)
		f.waitFor("the job to run", func() bool { return f.jobs[job.ID] != nil })
		jobs, gates = append(jobs, job), append(gates, gate)
	}
	o.set(true)
	for i, gate := range gates { // one after the other: the spool keeps their order
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitSpool(t, cfg, func(n int) bool { return n == i+1 })
	}
	h.stop() // hard: the completions give up; their results stay spooled
	if err := h.wait(); !errors.Is(err, agent.ErrHardStop) {
		t.Fatalf("Run = %v", err)
	}
	f.stealClaim(jobs[1].ID) // the farm gave the second job away meanwhile

	o.set(false)
	before := len(o.seen())
	start(t, f, b, cfg)
	f.waitFor("the second registration", func() bool { return f.registrations == 2 })
	calls := o.seen()[before:]
	want := []string{"complete " + jobs[0].ID, "complete " + jobs[1].ID, "register"}
	if len(calls) < 3 || strings.Join(calls[:3], ",") != strings.Join(want, ",") {
		t.Fatalf("the next run's first calls: %v, want %v", calls, want)
	}
	f.locked(func() {
		if fj := f.jobs[jobs[0].ID]; !fj.done || fj.lastResult != "succeeded" {
			t.Errorf("the spooled result of %s was not accepted: %+v", jobs[0].ID, fj)
		}
	})
	waitSpool(t, cfg, func(n int) bool { return n == 0 })
}

// waitSpool waits until the agent's spool holds a number of results cond accepts.
func waitSpool(t *testing.T, cfg agent.Config, cond func(int) bool) {
	t.Helper()
	dir := filepath.Clean(cfg.WorkDir) + ".state"
	deadline := time.Now().Add(hangGuard)
	for {
		des, _ := os.ReadDir(dir)
		n := 0
		for _, de := range des {
			if strings.HasSuffix(de.Name(), ".json") && !strings.HasPrefix(de.Name(), ".") {
				n++
			}
		}
		if cond(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool %s holds %d results", dir, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
