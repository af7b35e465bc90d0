package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/smithy-go/logging"
	"golang.org/x/sync/errgroup"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls/ddbunits"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// The load mode (farm-bench -load): hundreds of simulated builders —
// goroutines speaking the real HTTP API, each with its own builder token:
// register, then claim and complete until the queue is empty or the run's
// time is up (then the claims made count) — against the
// local farm on a private emulator, once with the pool unsharded and once
// with its dispatch index on -shards shards, next to the emulator's own
// ceiling measured in the same run. Bounded in jobs and in time; it stops
// by itself. The result goes into bench.json's "load" section.

const loadDefinition = "Each run: a fresh local farm (one pool, dispatch index on S shards) and its queue filled " +
	"with no-op jobs of mixed priorities (-50..50 from a fixed seed, so ties happen); then every simulated builder " +
	"(a goroutine with its own builder token, over HTTP) claims and completes jobs until the queue is empty, " +
	"at most claims_in_flight claim requests at once. " +
	"claims_per_second: jobs claimed / (first claim request sent -> last successful claim answered). The priority " +
	"fraction judges each claim as the priority scenario does (times taken at the client: a better job counts as " +
	"waiting only if no claim of it began before this claim was answered). emulator_ceiling_*: the same emulator " +
	"in the same run, driven by raw SDK calls from as many goroutines: conditional PutItems of new items to a " +
	"table with an ALL-projected index, and Queries of 25 entries of that index"

// loadPlan is how much the load mode does.
type loadPlan struct {
	builders, jobs, shards int
	// runLimit bounds each run's claiming; ceilingFor each ceiling measure.
	runLimit, ceilingFor time.Duration
	// ceilingWorkers drive the raw calls.
	ceilingWorkers int
	// inFlight caps the claim requests in flight at once, whatever the
	// number of builders: the emulator answers some 30 queries a second,
	// and hundreds of claims at once (each a query per shard, then a
	// conditional write per candidate lost to another claim) leave it
	// minutes behind, so that requests time out instead of measuring
	// anything. On AWS the cap would be the doorbells' pace.
	inFlight int
	timeout  time.Duration
}

func defaultLoadPlan(shards int, quick bool) loadPlan {
	p := loadPlan{builders: 200, jobs: 400, shards: shards, runLimit: 75 * time.Second, ceilingFor: 5 * time.Second, ceilingWorkers: 32, inFlight: 16, timeout: 5 * time.Minute}
	if quick {
		p.builders, p.jobs, p.runLimit, p.ceilingFor, p.timeout = 100, 120, 40*time.Second, 3*time.Second, 2*time.Minute
	}
	return p
}

// LoadResult is bench.json's "load".
type LoadResult struct {
	Definition  string      `json:"definition"`
	Environment Environment `json:"environment"`
	Date        string      `json:"date"`
	Builders    int         `json:"builders"`
	Jobs        int         `json:"jobs"`
	Shards      int         `json:"shards"`
	// ClaimsInFlight caps the claim requests in flight at once.
	ClaimsInFlight int `json:"claims_in_flight"`
	// Headline figures: claims/s unsharded and at -shards (the _s4 names
	// hold the sharded run whatever -shards was; Shards says which).
	ClaimsPerSecondS1  float64 `json:"claims_per_second_s1"`
	ClaimsPerSecondS4  float64 `json:"claims_per_second_s4"`
	PriorityFractionS4 float64 `json:"priority_fraction_s4"`
	// The emulator's own ceiling, same run.
	CeilingWritesPerSecond  float64    `json:"emulator_ceiling_conditional_writes_per_second"`
	CeilingQueriesPerSecond float64    `json:"emulator_ceiling_queries_per_second"`
	CeilingWorkers          int        `json:"emulator_ceiling_goroutines"`
	Runs                    []*LoadRun `json:"runs"`
	Notes                   []string   `json:"notes"`
}

// LoadRun is one width's run.
type LoadRun struct {
	Shards   int `json:"shards"`
	Builders int `json:"builders"`
	Jobs     int `json:"jobs"`
	// QueuedPerShard is where the queue was when the builders started.
	QueuedPerShard []int `json:"queued_per_shard"`
	// Claimed is short of Jobs when the run's time was up first.
	Claimed      int     `json:"claimed"`
	Completed    int     `json:"completed"`
	Seconds      float64 `json:"seconds"`
	ClaimsPerSec float64 `json:"claims_per_second"`
	// ClaimRequests counts every claim, those answered 204 included.
	ClaimRequests int `json:"claim_requests"`
	ClaimsEmpty   int `json:"claims_empty"`
	Errors        int `json:"errors"`
	// ClaimMs is the claim request's latency at the client.
	ClaimMsP50 float64 `json:"claim_ms_p50"`
	ClaimMsP99 float64 `json:"claim_ms_p99"`
	// The farm's AWS calls in the window (claims, completions, the
	// dispatcher, the reaper), per job claimed and per second.
	AWSCallsPerClaim        float64        `json:"aws_calls_per_job_claimed"`
	DispatchQueriesPerClaim float64        `json:"dispatch_queries_per_claim"`
	EmulatorCallsPerSecond  float64        `json:"emulator_calls_per_second"`
	Priority                PriorityResult `json:"priority"`
}

// loadMain runs the load mode from main's flags (timeout 0: the plan's).
func loadMain(shards int, quick bool, out string, timeout time.Duration) int {
	if shards < 2 || shards > store.MaxDispatchShards {
		fmt.Fprintf(os.Stderr, "farm-bench: -shards %d: the load mode compares 1 shard with 2..%d\n", shards, store.MaxDispatchShards)
		return 2
	}
	p := defaultLoadPlan(shards, quick)
	if timeout > 0 {
		p.timeout = timeout
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runLoad(ctx, p, out, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "farm-bench:", err)
		return 1
	}
	return 0
}

// runLoad is the load mode's whole run: it writes the result into the
// "load" section of the report at out (kept otherwise) and prints it.
func runLoad(ctx context.Context, p loadPlan, out string, stdout, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	began := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "farm-bench load %5.1fs: %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	dir, err := os.MkdirTemp("", "farm-bench-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	emuLog, err := os.Create(filepath.Join(dir, "moto.log"))
	if err != nil {
		return err
	}
	defer emuLog.Close()
	step("starting a private moto_server")
	emu, err := emulator.Start(ctx, "127.0.0.1:0", emuLog)
	if err != nil {
		return err
	}
	defer emu.Stop()
	cfg, err := emu.Config(ctx)
	if err != nil {
		return err
	}
	cfg.Logger = logging.Nop{}
	res := &LoadResult{Definition: loadDefinition, Environment: environment("load"), Builders: p.builders, Jobs: p.jobs, Shards: p.shards, CeilingWorkers: p.ceilingWorkers, ClaimsInFlight: p.inFlight}
	res.Date = res.Environment.Date

	step("emulator ceiling: raw conditional writes and queries, %d goroutines, %s each", p.ceilingWorkers, p.ceilingFor)
	if res.CeilingWritesPerSecond, res.CeilingQueriesPerSecond, err = emulatorCeiling(ctx, cfg, p); err != nil {
		return fmt.Errorf("emulator ceiling: %w", err)
	}
	for _, s := range []int{1, p.shards} {
		step("S=%d: %d builders, %d jobs", s, p.builders, p.jobs)
		run, err := loadRun(ctx, emu, p, s, step)
		if err != nil {
			return fmt.Errorf("load at S=%d: %w", s, err)
		}
		res.Runs = append(res.Runs, run)
	}
	res.ClaimsPerSecondS1, res.ClaimsPerSecondS4 = res.Runs[0].ClaimsPerSec, res.Runs[1].ClaimsPerSec
	res.PriorityFractionS4 = res.Runs[1].Priority.FractionHighestFirst
	res.Notes = []string{
		"The emulator is one moto_server process on a shared 2-core machine: it bounds every figure here, and it has no partitions, so sharding shows only its cost (a claim queries every shard) and its exactness, not the partition throughput it buys on AWS (docs/capacity.md).",
	}
	res.Environment.LoadAvgEnd = loadAvg()
	res.Environment.Seconds = round(time.Since(began).Seconds(), 1)
	printLoad(stdout, res)
	if err := mergeSection(out, "load", res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote the load section of %s\n", out)
	return nil
}

// loadRun is one run at width shards on a fresh topology.
func loadRun(ctx context.Context, emu *emulator.Emulator, p loadPlan, shards int, step func(string, ...any)) (*LoadRun, error) {
	cfg, err := emu.Config(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Logger = logging.Nop{}
	top, err := topology.New("load-"+farm.NewSecret(3), []string{farm.DefaultPool})
	if err != nil {
		return nil, err
	}
	defer func() { _ = provision.Destroy(context.Background(), cfg, top) }()
	counter := awscalls.New()
	// The estimator names each call's table and index (Query jobs/by-pool-queue).
	counter.Inspect = ddbunits.New(tablesOf(top)...).Inspect
	counted := cfg.Copy()
	counted.APIOptions = slices.Clone(cfg.APIOptions)
	counter.Attach(&counted)
	lf, err := wiring.StartLocal(ctx, wiring.LocalConfig{
		Addr: "127.0.0.1:0", AWS: &counted,
		Farm:   wiring.Config{Topology: top, DispatchShards: map[string]int{farm.DefaultPool: shards}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	defer lf.Stop()
	admin, err := client.New(lf.URL, lf.AdminToken)
	if err != nil {
		return nil, err
	}
	builders, err := registerBuilders(ctx, admin, lf.URL, p.builders)
	if err != nil {
		return nil, err
	}
	jobs, err := fillQueue(ctx, admin, p.jobs)
	if err != nil {
		return nil, err
	}
	run := &LoadRun{Shards: shards, Builders: p.builders, Jobs: p.jobs}
	if run.QueuedPerShard, err = lf.Store.QueuedPerShard(ctx, farm.DefaultPool); err != nil {
		return nil, err
	}
	step("S=%d: queue filled, per shard %v; builders claiming", shards, run.QueuedPerShard)
	before := counter.Snapshot()
	claims, stats := claimAll(ctx, builders, p)
	calls := counter.Snapshot().Sub(before)
	run.Claimed, run.Completed, run.ClaimRequests, run.ClaimsEmpty, run.Errors = stats.claimed, stats.completed, len(claims), stats.empty, stats.errors
	if run.Claimed == 0 {
		return nil, fmt.Errorf("no job claimed (%d errors)", stats.errors)
	}
	run.Seconds = round(stats.last.Sub(stats.first).Seconds(), 3)
	run.ClaimsPerSec = round(float64(run.Claimed)/stats.last.Sub(stats.first).Seconds(), 2)
	var ms []float64
	for _, c := range claims {
		ms = append(ms, float64(c.End.Sub(c.Start).Microseconds())/1000)
	}
	slices.Sort(ms)
	run.ClaimMsP50, run.ClaimMsP99 = round(nearestRank(ms, 50), 1), round(nearestRank(ms, 99), 1)
	total := calls.Total(func(awscalls.Key) bool { return true })
	queries := calls.Total(func(k awscalls.Key) bool {
		return k.Operation == "Query" && strings.HasSuffix(k.Resource, "by-pool-queue")
	})
	run.AWSCallsPerClaim = round(float64(total.Calls)/float64(run.Claimed), 2)
	run.DispatchQueriesPerClaim = round(float64(queries.Calls)/float64(run.Claimed), 2)
	run.EmulatorCallsPerSecond = round(float64(total.Calls)/stats.end.Sub(stats.first).Seconds(), 1)
	run.Priority = judgeClaims(jobs, claims)
	run.Priority.Definition, run.Priority.Jobs = "as the load section's definition says", len(jobs)
	return run, nil
}

// nearestRank is the p-th percentile of sorted values.
func nearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// simBuilder is one simulated builder: its name and its own token's client.
type simBuilder struct {
	name string
	api  *client.Client
}

// registerBuilders issues a builder token per builder and registers it, 16 at a time.
func registerBuilders(ctx context.Context, admin *client.Client, url string, n int) ([]simBuilder, error) {
	out := make([]simBuilder, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range out {
		g.Go(func() error {
			name := fmt.Sprintf("sim-%03d", i)
			tok, err := admin.CreateToken(gctx, apiv1.TokenRequest{Role: string(farm.RoleBuilder), Builder: name, Pools: []string{farm.DefaultPool}, Name: name})
			if err != nil {
				return fmt.Errorf("token of %s: %w", name, err)
			}
			api, err := client.New(url, tok.Token)
			if err != nil {
				return err
			}
			if _, err := api.RegisterBuilder(gctx, name, farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{farm.DefaultPool}, Slots: 1}); err != nil {
				return fmt.Errorf("register %s: %w", name, err)
			}
			out[i] = simBuilder{name: name, api: api}
			return nil
		})
	}
	return out, g.Wait()
}

// fillQueue submits n no-op jobs of mixed priorities, 16 at a time.
func fillQueue(ctx context.Context, admin *client.Client, n int) ([]queued, error) {
	rng := rand.New(rand.NewPCG(18, 18))
	prios := make([]int64, n)
	for i := range prios {
		prios[i] = int64(rng.IntN(5)*25 - 50)
	}
	out := make([]queued, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range out {
		g.Go(func() error {
			req := noopJob()
			req.Priority = &prios[i]
			job, _, err := admin.SubmitJob(gctx, req, "")
			if err != nil {
				return err
			}
			out[i] = queued{id: job.ID, score: job.Score, returned: time.Now()}
			return nil
		})
	}
	return out, g.Wait()
}

// claimStats is what the builders saw.
type claimStats struct {
	claimed, completed, empty, errors int
	// first claim sent, last successful claim answered, last request answered.
	first, last, end time.Time
}

// claimAll runs every builder until the queue is empty (every job
// claimed) or the run's time is up.
func claimAll(ctx context.Context, builders []simBuilder, p loadPlan) ([]claimObs, claimStats) {
	ctx, cancel := context.WithTimeout(ctx, p.runLimit)
	defer cancel()
	var (
		mu      sync.Mutex
		obs     []claimObs
		st      claimStats
		claimed atomic.Int64
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, p.inFlight)
	st.first = time.Now()
	for i, b := range builders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 4))
			for ctx.Err() == nil && claimed.Load() < int64(p.jobs) {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				start := time.Now()
				// A simulated builder completes each job before it claims again.
				c, err := b.api.Claim(ctx, b.name, apiv1.ClaimRequest{Pool: farm.DefaultPool, JobsHeld: new(int)})
				end := time.Now()
				<-slots
				o := claimObs{Builder: b.name, Start: start, End: end, Status: 204}
				mu.Lock()
				st.end = end
				switch {
				case err != nil && ctx.Err() != nil:
					// The run's time was up during this claim.
					mu.Unlock()
					return
				case err != nil:
					st.errors++
				case c == nil:
					st.empty++
				default:
					o.Status, o.JobID = 200, c.Job.ID
					st.claimed++
					st.last = end
				}
				if err == nil {
					obs = append(obs, o)
				}
				mu.Unlock()
				if err != nil || c == nil {
					// Nothing won (every candidate lost to other claims, or
					// the queue is drained): an agent waits for its next
					// doorbell; here, a jittered pause.
					sleep(ctx, time.Duration(250+rng.IntN(500))*time.Millisecond)
					continue
				}
				claimed.Add(1)
				if _, err := b.api.CompleteJob(ctx, c.Job.ID, apiv1.CompleteRequest{ClaimToken: c.ClaimToken, Result: string(farm.StatusSucceeded)}); err == nil {
					mu.Lock()
					st.completed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return obs, st
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
