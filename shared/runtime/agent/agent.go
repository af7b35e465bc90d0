// Package agent is the builder agent: it registers a builder with the farm,
// waits for its pools' doorbells, claims jobs through the API, runs them with
// their type's executor in up to `slots` at once, heartbeats their leases and
// log, uploads artifacts and completes them with the claim token.
//
// The shape follows buildkite/agent: loops that select on a context,
// jittered polling and backoff, a heartbeat goroutine, a graceful drain (the
// first signal) and a hard stop (the second, or cancelling Run's context).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// Agent is one builder. Make it with New, start it with Run.
type Agent struct {
	cfg   Config
	api   API
	bells Doorbells
	log   *slog.Logger

	// hardCtx is Run's context: cancelled only on a hard stop. Claims,
	// completions and uploads use it, so that a drain never cuts a claim in
	// half (the farm would hold a job nobody runs until its lease expires).
	hardCtx context.Context

	drainOnce sync.Once
	drainCh   chan struct{}
	sweepCh   chan struct{} // a request to claim from the pools hints wants
	hints     *claimHints   // which pools are worth a claim when a slot is free
	beatCh    chan struct{} // a request to heartbeat now
	jobsWG    sync.WaitGroup

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever claimability changes
	free      int           // free slots
	draining  bool          // local drain: claim no more, then exit
	farmDrain bool          // the farm asked us to claim nothing for now
	queueURLs map[string]string
	heartbeat time.Duration
	lease     time.Duration
	jobs      map[string]*runningJob
	// completed counts the jobs reported done since the last answered
	// heartbeat, which carries the count (the farm writes no builder item
	// per completion).
	completed  int
	registered int // registrations so far

	// reregisterMu lets one re-registration run at a time (see reregister).
	reregisterMu sync.Mutex

	// spool keeps results the farm has not acknowledged (nil: none).
	spool      *spool
	replayMu   sync.Mutex     // one spool replay at a time
	replays    sync.WaitGroup // replays started by heartbeats
	beatFailed bool           // the last heartbeat did not get through (under mu)
	recovered  chan struct{}  // closed when one gets through again (under mu)
}

// New returns an agent of cfg talking to api and receiving doorbells from bells.
func New(cfg Config, api API, bells Doorbells) (*Agent, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.Spec.BootID == "" {
		// One agent, one run: its jobs die with it, so a new one (a new
		// process) tells the farm that whatever the last one held is lost.
		c.Spec.BootID = farm.NewID(time.Now())
	}
	a := &Agent{
		cfg:       c,
		api:       api,
		bells:     bells,
		log:       c.Logger.With("builder", c.Name),
		drainCh:   make(chan struct{}),
		sweepCh:   make(chan struct{}, 1),
		hints:     newClaimHints(c.Spec.Pools),
		beatCh:    make(chan struct{}, 1),
		changed:   make(chan struct{}),
		free:      c.Spec.Slots,
		heartbeat: fallbackHeartbeat,
		lease:     fallbackLease,
		jobs:      map[string]*runningJob{},
		recovered: make(chan struct{}),
	}
	sp, err := openSpool(c.StateDir, c.SpoolMaxEntries, c.SpoolMaxBytes, a.log)
	if err != nil {
		// Results are then sent from memory only: a restart loses them
		// (their jobs are requeued when their leases expire).
		a.log.Warn("no result spool", "err", err)
	} else {
		a.spool = sp
	}
	return a, nil
}

// Drain stops claiming; Run returns once the running jobs are finished and
// completed. It is the first SIGTERM. Calling it again does nothing.
func (a *Agent) Drain() {
	a.drainOnce.Do(func() {
		a.log.Info("draining: claiming no more jobs; running jobs finish first")
		a.mu.Lock()
		a.draining = true
		a.broadcastLocked()
		a.mu.Unlock()
		close(a.drainCh)
		a.beatSoon()
	})
}

// ErrHardStop is Run's error when its context was cancelled.
var ErrHardStop = errors.New("agent: stopped hard; running jobs were killed and not completed")

// Run registers the builder and serves jobs until Drain is called and the
// running jobs are done (nil), or until ctx is cancelled: then the jobs'
// process groups are killed at once and Run returns ErrHardStop. Every
// goroutine Run starts has ended when it returns.
func (a *Agent) Run(ctx context.Context) error {
	a.hardCtx = ctx
	// Job users may pass through the work dir to their own workspace, but
	// never list it or read the agent's job logs there.
	if err := os.MkdirAll(a.cfg.WorkDir, 0o711); err != nil {
		return fmt.Errorf("agent: work dir: %w", err)
	}
	if err := os.Chmod(a.cfg.WorkDir, 0o711); err != nil {
		return fmt.Errorf("agent: work dir: %w", err)
	}
	if iso, ok := a.cfg.Executors.(interface {
		Isolation() (*executor.Isolation, error)
	}); ok {
		if is, err := iso.Isolation(); err == nil {
			a.log.Info("jobs are isolated", "isolation", is.String())
		}
	}
	if registered, err := a.registerUntilDone(ctx); err != nil || !registered {
		return err // nil: drained before the farm ever answered
	}

	claimCtx, stopClaiming := context.WithCancel(ctx)
	defer stopClaiming()
	beatCtx, stopBeating := context.WithCancel(ctx)
	defer stopBeating()

	var claimers, beater sync.WaitGroup
	beater.Go(func() { a.heartbeatLoop(beatCtx) })
	beater.Go(func() { a.watchInterruptions(beatCtx) })
	claimers.Go(func() { a.sweepLoop(claimCtx) })
	for _, pool := range a.cfg.Spec.Pools {
		claimers.Go(func() { a.pollLoop(claimCtx, pool) })
	}
	// Jobs may have queued while no doorbell could reach us (register
	// asked for a claim from every pool).
	a.requestSweep()

	select {
	case <-ctx.Done():
	case <-a.drainCh:
	}
	stopClaiming()
	// A claim in flight may still add a job: wait for the claimers first.
	claimers.Wait()

	jobsDone := make(chan struct{})
	go func() {
		a.jobsWG.Wait()
		close(jobsDone)
	}()
	if ctx.Err() == nil {
		a.log.Info("drain: waiting for running jobs", "jobs", a.runningCount())
	}
	select {
	case <-jobsDone:
	case <-ctx.Done():
		a.log.Warn("hard stop: killing running jobs", "jobs", a.runningCount())
		<-jobsDone
	}
	stopBeating()
	beater.Wait()
	a.replays.Wait()
	if ctx.Err() != nil {
		return ErrHardStop
	}
	a.log.Info("drained: every job finished")
	return nil
}

// registerUntilDone registers, retrying with backoff while the farm is
// unreachable. A refusal (bad token, invalid spec) is returned; a drain
// before the farm answered returns false.
func (a *Agent) registerUntilDone(ctx context.Context) (bool, error) {
	bo := a.newBackoff()
	for {
		// The results an earlier run left go first: registering under this
		// run's boot id takes its claims back.
		err := a.replaySpool(ctx)
		if err == nil {
			err = a.register(ctx)
		}
		if err == nil {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, ErrHardStop
		}
		if !temporary(err) {
			return false, fmt.Errorf("agent: register %s: %w", a.cfg.Name, err)
		}
		wait := bo.next()
		a.log.Warn("register failed; retrying", "err", err, "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-a.drainCh:
			t.Stop()
			return false, nil
		case <-ctx.Done():
			t.Stop()
			return false, ErrHardStop
		case <-t.C:
		}
	}
}

// register PUTs the builder and takes its queues and timing from the answer.
func (a *Agent) register(ctx context.Context) error {
	reg, err := a.api.RegisterBuilder(ctx, a.cfg.Name, a.cfg.Spec)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.queueURLs = reg.QueueURLs
	a.setTimingLocked(reg.HeartbeatSeconds, reg.LeaseSeconds)
	a.registered++
	n, hb, lease := a.registered, a.heartbeat, a.lease
	a.broadcastLocked()
	a.mu.Unlock()
	// Whatever queued while the farm did not know us (or that a clean
	// builder may take now) rang no doorbell of ours: claim from each pool.
	a.hints.ask(a.cfg.Spec.Pools...)
	for _, pool := range a.cfg.Spec.Pools {
		if reg.QueueURLs[pool] == "" {
			a.log.Warn("the farm has no doorbell queue for this pool; claiming from it now and then only", "pool", pool)
		}
	}
	a.log.Info("registered", "registrations", n, "boot_id", a.cfg.Spec.BootID, "pools", a.cfg.Spec.Pools, "slots", a.cfg.Spec.Slots,
		"heartbeat_seconds", hb.Seconds(), "lease_seconds", lease.Seconds())
	return nil
}

// setTimingLocked takes the farm's heartbeat and lease; zero keeps the current.
func (a *Agent) setTimingLocked(heartbeatSeconds, leaseSeconds int) {
	if heartbeatSeconds > 0 {
		a.heartbeat = time.Duration(heartbeatSeconds) * time.Second
	}
	if leaseSeconds > 0 {
		a.lease = time.Duration(leaseSeconds) * time.Second
	}
}

// broadcastLocked wakes everything waiting for a state change.
func (a *Agent) broadcastLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// acquireSlot takes a free slot if the builder may claim now.
func (a *Agent) acquireSlot() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.draining || a.farmDrain || a.free == 0 {
		return false
	}
	a.free--
	return true
}

// releaseSlot frees a slot, and has the sweep claim with it from the pools
// worth a claim (the last answer said more was queued, or a doorbell found
// no free slot): only then does a job's end cost a claim.
func (a *Agent) releaseSlot() {
	a.mu.Lock()
	a.free++
	a.broadcastLocked()
	a.mu.Unlock()
	a.requestSweep()
}

// waitClaimable blocks until a slot is free and nothing forbids claiming.
func (a *Agent) waitClaimable(ctx context.Context) error {
	for {
		a.mu.Lock()
		ok := !a.draining && !a.farmDrain && a.free > 0
		ch := a.changed
		a.mu.Unlock()
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

// forceRegister, given to reregister, registers whatever happened meanwhile.
const forceRegister = -1

// registrations is how many times the builder has registered.
func (a *Agent) registrations() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.registered
}

func (a *Agent) queueURL(pool string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.queueURLs[pool]
}

func (a *Agent) timing() (heartbeat, lease time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.heartbeat, a.lease
}

func (a *Agent) isDraining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining
}

// takesNoWork reports whether the builder is draining, on its own (a
// signal) or because the farm said so.
func (a *Agent) takesNoWork() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining || a.farmDrain
}

func (a *Agent) runningCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.jobs)
}

// claimSoon asks for a claim from pools with the next free slot.
func (a *Agent) claimSoon(pools ...string) {
	a.hints.ask(pools...)
	a.requestSweep()
}

func (a *Agent) requestSweep() {
	select {
	case a.sweepCh <- struct{}{}:
	default:
	}
}

func (a *Agent) beatSoon() {
	select {
	case a.beatCh <- struct{}{}:
	default:
	}
}

func (a *Agent) newBackoff() *backoff {
	return &backoff{min: a.cfg.BackoffMin, max: a.cfg.BackoffMax}
}

// Status is a snapshot for tests and status pages.
type Status struct {
	Running   []string
	FreeSlots int
	Draining  bool
	FarmDrain bool
}

// Status returns what the agent is doing now.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{FreeSlots: a.free, Draining: a.draining, FarmDrain: a.farmDrain}
	for id := range a.jobs {
		s.Running = append(s.Running, id)
	}
	return s
}
