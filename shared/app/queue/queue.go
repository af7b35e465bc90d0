// Package queue is the farm's outlook: per builder pool, what waits, runs
// and serves, how long jobs took to start lately, and when each queued job
// should start (Launchpad's estimated dispatch time).
package queue

import (
	"container/heap"
	"context"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service computes the queue's outlook.
type Service struct {
	store Store
	pools farm.Pools
	clock func() time.Time
	log   *slog.Logger
}

// Options configure a Service.
type Options struct {
	Store Store
	// Pools are the builder pools the farm serves.
	Pools  farm.Pools
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, pools: o.Pools, clock: o.Clock, log: o.Logger}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

func (s *Service) now() time.Time { return store.Now(s.clock) }

// PoolSummary is one builder pool's queue, builders and outlook.
type PoolSummary struct {
	Pool              string
	Waiting           int
	Queued            int
	Running           int
	BuildersIdle      int
	BuildersBusy      int
	BuildersOther     int // draining, lost or disabled
	Slots             int // slots of the builders that can take work
	OldestWaitSeconds float64
	// EstimatedStartAt is when the next queued job should start (nil: no
	// queued job, or no builder to run it).
	EstimatedStartAt *time.Time
	// TimeToStartP50 and TimeToStartP90 are percentiles of how long the
	// jobs that started in the last TimeToStartWindow had waited (nil: none
	// started).
	TimeToStartP50, TimeToStartP90 *float64
	// Started is how many starts the percentiles are over.
	Started int
}

// TimeToStartWindow is the span of the queue's time-to-start percentiles.
const TimeToStartWindow = time.Hour

// MaxTimeToStartSample bounds the starts read per pool for the
// percentiles: one query of the start index, the latest starts first. A
// pool that starts more jobs than this in the window has its percentiles
// computed over the latest ones.
const MaxTimeToStartSample = 1000

// maxEstimated bounds how much of a queue is simulated.
const maxEstimated = 1000

// Summary describes every served pool.
func (s *Service) Summary(ctx context.Context) ([]PoolSummary, error) {
	builders, active, err := s.builders(ctx)
	if err != nil {
		return nil, err
	}
	pools := s.pools.List()
	out := make([]PoolSummary, 0, len(pools))
	durations := durationCache{}
	for _, pool := range pools {
		sum := PoolSummary{Pool: pool}
		for _, b := range builders {
			if !b.Serves(pool) {
				continue
			}
			switch b.State {
			case farm.BuilderIdle:
				sum.BuildersIdle++
				sum.Slots += b.Slots
			case farm.BuilderBusy:
				sum.BuildersBusy++
				sum.Slots += b.Slots
			default:
				sum.BuildersOther++
			}
		}
		queued, est, running, err := s.estimatePool(ctx, pool, sum.Slots, active[pool], durations)
		if err != nil {
			return nil, err
		}
		now := s.now()
		sum.Queued, sum.Running = len(queued), running
		for _, j := range queued {
			since := j.CreatedAt
			if j.QueuedAt != nil {
				since = *j.QueuedAt
			}
			sum.OldestWaitSeconds = max(sum.OldestWaitSeconds, now.Sub(since).Seconds())
		}
		if len(queued) > 0 && est[queued[0].ID] != nil {
			sum.EstimatedStartAt = est[queued[0].ID]
		}
		waiting, err := s.store.ListJobs(ctx, store.JobFilter{Status: farm.StatusWaiting, Pool: pool, Limit: store.MaxListLimit})
		if err != nil {
			return nil, err
		}
		sum.Waiting = len(waiting.Jobs)
		// The percentiles are a courtesy: without them (an index still
		// being built after an upgrade, say) the queue is still worth showing.
		starts, err := s.store.RecentStarts(ctx, pool, now.Add(-TimeToStartWindow), MaxTimeToStartSample)
		if err != nil {
			s.log.WarnContext(ctx, "no time-to-start figures", "pool", pool, "err", err)
		}
		sum.Started = len(starts)
		sum.TimeToStartP50, sum.TimeToStartP90 = Percentile(starts, 50), Percentile(starts, 90)
		out = append(out, sum)
	}
	return out, nil
}

// EstimateStarts fills in EstimatedStartAt of the queued jobs among jobs,
// simulating each pool they are in once.
func (s *Service) EstimateStarts(ctx context.Context, jobs []*farm.Job) error {
	pools := map[string][]*farm.Job{}
	for _, j := range jobs {
		j.EstimatedStartAt, j.QueuePosition = nil, nil
		if j.Status == farm.StatusQueued {
			pools[j.Pool] = append(pools[j.Pool], j)
		}
	}
	if len(pools) == 0 {
		return nil
	}
	builders, active, err := s.builders(ctx)
	if err != nil {
		return err
	}
	durations := durationCache{}
	for pool, queued := range pools {
		slots := 0
		for _, b := range builders {
			if b.Serves(pool) && (b.State == farm.BuilderIdle || b.State == farm.BuilderBusy) {
				slots += b.Slots
			}
		}
		all, est, _, err := s.estimatePool(ctx, pool, slots, active[pool], durations)
		if err != nil {
			return err
		}
		position := make(map[string]int, len(all))
		for i, j := range all {
			position[j.ID] = i + 1
		}
		for _, j := range queued {
			j.EstimatedStartAt = est[j.ID]
			if p, ok := position[j.ID]; ok {
				j.QueuePosition = &p
			}
		}
	}
	return nil
}

// builders reads the builders, with the jobs each holds, and the running
// jobs by pool: two reads, the builders table and the reap index.
func (s *Service) builders(ctx context.Context) ([]*farm.Builder, map[string][]store.ActiveJob, error) {
	bs, err := s.store.ListBuilders(ctx)
	if err != nil {
		return nil, nil, err
	}
	active, err := s.store.ActiveJobs(ctx, "", 0)
	if err != nil {
		return nil, nil, err
	}
	store.SetCurrentJobs(active, bs...)
	byPool := map[string][]store.ActiveJob{}
	for _, a := range active {
		byPool[a.Pool] = append(byPool[a.Pool], a)
	}
	return bs, byPool, nil
}

// Percentile is the nearest-rank p-th percentile of values (nil for none).
func Percentile(values []float64, p float64) *float64 {
	if len(values) == 0 {
		return nil
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	v := sorted[min(max(rank, 1), len(sorted))-1]
	return &v
}

// estimatePool simulates the pool's queue, like Launchpad's estimated
// dispatch time: each of the pool's slots is free when its running job is
// expected to end (now, if idle); queued jobs, in dispatch order, take the
// slot that frees first and hold it for the mean recent duration of their
// type. With no slots there is no estimate.
func (s *Service) estimatePool(ctx context.Context, pool string, slots int, active []store.ActiveJob, durations durationCache) ([]*farm.Job, map[string]*time.Time, int, error) {
	queued, err := s.store.QueuedJobs(ctx, pool, maxEstimated)
	if err != nil {
		return nil, nil, 0, err
	}
	est := map[string]*time.Time{}
	if slots == 0 || len(queued) == 0 {
		return queued, est, len(active), nil
	}
	now := s.now()
	meanOf := func(typ string) (time.Duration, error) { return durations.mean(ctx, s, typ) }
	free, err := slotFreeTimes(now, slots, active, meanOf)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, j := range queued {
		start := heap.Pop(free).(time.Time)
		if j.NotBefore != nil && j.NotBefore.After(start) {
			start = *j.NotBefore
		}
		est[j.ID] = farm.TimePtr(start)
		d, err := meanOf(j.Type)
		if err != nil {
			return nil, nil, 0, err
		}
		heap.Push(free, start.Add(d))
	}
	return queued, est, len(active), nil
}

// slotFreeTimes is a min-heap of when each slot is next free.
func slotFreeTimes(now time.Time, slots int, active []store.ActiveJob, meanOf func(string) (time.Duration, error)) (*timeHeap, error) {
	h := &timeHeap{}
	for i, j := range active {
		if i >= slots {
			break
		}
		d, err := meanOf(j.Type)
		if err != nil {
			return nil, err
		}
		end := now
		if !j.StartedAt.IsZero() {
			end = j.StartedAt.Add(d)
		}
		*h = append(*h, later(end, now))
	}
	for len(*h) < slots {
		*h = append(*h, now)
	}
	heap.Init(h)
	return h, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// DefaultDuration is assumed for a type with no finished job yet.
const DefaultDuration = 5 * time.Minute

// recentDurations is how many finished jobs of a type make its mean.
const recentDurations = 20

// durationCache memoises mean durations per type for one summary.
type durationCache map[string]time.Duration

func (c durationCache) mean(ctx context.Context, s *Service, typ string) (time.Duration, error) {
	if d, ok := c[typ]; ok {
		return d, nil
	}
	page, err := s.store.ListJobs(ctx, store.JobFilter{Status: farm.StatusSucceeded, Type: typ, Limit: recentDurations})
	if err != nil {
		return 0, err
	}
	var sum float64
	n := 0
	for _, j := range page.Jobs {
		if j.DurationSeconds != nil {
			sum += *j.DurationSeconds
			n++
		}
	}
	d := DefaultDuration
	if n > 0 {
		d = time.Duration(sum / float64(n) * float64(time.Second))
	}
	c[typ] = d
	return d, nil
}

type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
