package queue_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// The stated accuracy of estimated start times, checked on a simulated
// farm whose job durations vary ±30% around their type's mean: every
// estimate within 25% of the real wait (or 2 minutes, for short waits), and
// the median within 10%.
const (
	maxRelError    = 0.25
	maxMedianError = 0.10
	absSlack       = 2 * time.Minute
)

func TestEstimatedStartTimesMatchASimulatedFarm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := storetest.NewClock()
	st := memstore.New()
	svc := wiring.NewServices(wiring.Deps{Store: st, Pools: storetest.Pools, Clock: clock.Now, Logger: slog.New(slog.DiscardHandler),
		Policy: farm.Policy{Heartbeat: time.Hour}}) // no lease expiry during the simulation
	admin := farm.Principal{Role: farm.RoleAdmin}
	claim := func(builder string) (*farm.Job, error) {
		c, err := svc.Claims.Claim(ctx, admin, builder, "amd64")
		if c == nil {
			return nil, err
		}
		return c.Job, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	means := map[string]time.Duration{"short": time.Minute, "long": 5 * time.Minute}
	builders := []string{"b1", "b2"}
	for _, b := range builders {
		if _, err := svc.Builders.Register(ctx, admin, b, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"amd64"}, Slots: 2}); err != nil {
			t.Fatal(err)
		}
	}
	// Two kinds of work the estimator tells apart by their type's history:
	// short scripts and long binary builds, both on the amd64 pool.
	typeOf := map[string]string{"short": farm.TypeScript, "long": farm.TypeBinaryBuild}
	submit := func(kind string, prio int64) *farm.Job {
		payload := `{"script":"x","pool":"amd64"}`
		if kind == "long" {
			payload = `{"package":"hello","arch":"amd64"}`
		}
		j, _, err := svc.Jobs.Submit(ctx, admission.Request{Type: typeOf[kind], Payload: json.RawMessage(payload), Priority: &prio})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	run := func(b string, d time.Duration) {
		j, err := claim(b)
		if err != nil || j == nil {
			t.Fatalf("history claim: %v %v", j, err)
		}
		clock.Advance(d)
		if _, err := svc.Claims.Record(ctx, b, j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: farm.StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	// History: exact mean durations, so the estimator knows each type.
	for range 20 {
		submit("short", 0)
		run("b1", means["short"])
		submit("long", 0)
		run("b1", means["long"])
	}

	// The queue: 40 jobs of mixed kinds and priorities (long builds score higher).
	kindOf := map[string]string{}
	for i := range 40 {
		kind := "short"
		if i%3 == 0 {
			kind = "long"
		}
		j := submit(kind, int64(rng.IntN(3)))
		kindOf[j.ID] = kind
	}
	t0 := clock.Now()
	estimates := map[string]time.Time{}
	for id := range kindOf {
		j, err := st.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Queue.EstimateStarts(ctx, []*farm.Job{j}); err != nil {
			t.Fatal(err)
		}
		if j.EstimatedStartAt == nil {
			t.Fatalf("no estimate for %s", id)
		}
		estimates[id] = *j.EstimatedStartAt
	}
	// A listing gets the same estimates, simulating the pool once.
	page, err := st.ListJobs(ctx, store.JobFilter{Status: farm.StatusQueued, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Queue.EstimateStarts(ctx, page.Jobs); err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		if j.EstimatedStartAt == nil || !j.EstimatedStartAt.Equal(estimates[j.ID]) {
			t.Fatalf("listing estimate of %s = %v, alone %v", j.ID, j.EstimatedStartAt, estimates[j.ID])
		}
	}
	summary, err := svc.Queue.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range summary {
		if p.Pool == "amd64" && (p.Queued != 40 || p.Slots != 4 || p.EstimatedStartAt == nil || !p.EstimatedStartAt.Equal(t0)) {
			t.Fatalf("pool summary %+v", p)
		}
	}

	// Simulate: 4 slots take jobs in dispatch order; each runs its kind's
	// mean ±30%.
	type slot struct {
		builder string
		freeAt  time.Time
		job     *farm.Job
	}
	var slots []*slot
	for _, b := range builders {
		slots = append(slots, &slot{builder: b, freeAt: t0}, &slot{builder: b, freeAt: t0})
	}
	actual := map[string]time.Time{}
	for len(actual) < len(kindOf) {
		slices.SortFunc(slots, func(a, b *slot) int { return a.freeAt.Compare(b.freeAt) })
		s := slots[0]
		clock.Advance(s.freeAt.Sub(clock.Now()))
		if s.job != nil {
			if _, err := svc.Claims.Record(ctx, s.builder, s.job.ID, farm.Completion{ClaimToken: s.job.ClaimToken, Result: farm.StatusSucceeded}); err != nil {
				t.Fatal(err)
			}
		}
		j, err := claim(s.builder)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			s.job, s.freeAt = nil, s.freeAt.Add(24*time.Hour)
			continue
		}
		actual[j.ID] = clock.Now()
		d := float64(means[kindOf[j.ID]]) * (0.7 + 0.6*rng.Float64())
		s.job, s.freeAt = j, clock.Now().Add(time.Duration(d))
	}

	var rel []float64
	for id, est := range estimates {
		wait, estWait := actual[id].Sub(t0), est.Sub(t0)
		diff := time.Duration(math.Abs(float64(wait - estWait)))
		r := 0.0
		if wait > 0 {
			r = float64(diff) / float64(wait)
		}
		rel = append(rel, r)
		if diff > absSlack && r > maxRelError {
			t.Errorf("job %s (%s): estimated wait %v, real wait %v (%.0f%% off)", id, kindOf[id], estWait, wait, 100*r)
		}
	}
	slices.Sort(rel)
	median := rel[len(rel)/2]
	t.Logf("estimate error: median %.1f%%, worst %.1f%% over %d jobs", 100*median, 100*rel[len(rel)-1], len(rel))
	if median > maxMedianError {
		t.Fatalf("median relative error %.1f%% over the stated %.0f%%", 100*median, 100*maxMedianError)
	}
}
