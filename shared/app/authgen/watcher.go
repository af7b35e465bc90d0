// Package authgen keeps an API instance's cached tokens and claimant
// builder records honest: a Watcher reads the farm's auth generation record
// (farm.AuthGeneration) at most every Bound and tells its caches which
// entries changed (or that they must drop everything, when it missed more
// changes than the record lists). A background refresher reads it while
// the process runs; a request finding the last good read older than Bound
// (a Lambda instance thawed after a freeze) reads it first, synchronously.
// So a revoked token answers 401 within Bound on every instance, and the
// reads are per instance and per second, not per request.
package authgen

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// DefaultBound is how old a cache's last validation may be when a request
// trusts it: the README's promise that a revoked token is refused within
// 2 s on every instance.
const DefaultBound = 2 * time.Second

// Store reads the auth generation record.
type Store interface {
	GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error)
}

// Forgetter is a cache the Watcher keeps honest.
type Forgetter interface {
	// Forget drops the entries the changes make wrong.
	Forget(changes []farm.AuthChange)
	// ForgetAll drops every entry.
	ForgetAll()
}

// Options configure a Watcher.
type Options struct {
	Store  Store
	Bound  time.Duration    // default DefaultBound
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// Watcher validates caches against the auth generation record.
type Watcher struct {
	store Store
	bound time.Duration
	clock func() time.Time
	log   *slog.Logger

	check sync.Mutex // one read at a time; holders re-test freshness

	mu        sync.Mutex
	caches    []Forgetter
	seen      int64
	checkedAt time.Time // last successful read (zero: none yet)
}

// New returns a Watcher over o.Store.
func New(o Options) *Watcher {
	w := &Watcher{store: o.Store, bound: o.Bound, clock: o.Clock, log: o.Logger}
	if w.bound <= 0 {
		w.bound = DefaultBound
	}
	if w.clock == nil {
		w.clock = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w
}

// Bound is how old a validation may be when a request trusts a cache.
func (w *Watcher) Bound() time.Duration { return w.bound }

// Watch adds a cache to keep honest.
func (w *Watcher) Watch(f Forgetter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.caches = append(w.caches, f)
}

// Fresh makes sure the caches were validated within Bound, reading the
// record now if not. On an error the caches are dropped (the caller then
// reads the store itself, which is what a cache hit would have trusted).
func (w *Watcher) Fresh(ctx context.Context) error {
	if w.fresh() {
		return nil
	}
	return w.Refresh(ctx)
}

func (w *Watcher) fresh() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.freshLocked()
}

func (w *Watcher) freshLocked() bool {
	if w.checkedAt.IsZero() {
		return false
	}
	age := w.clock().Sub(w.checkedAt)
	return age >= 0 && age < w.bound
}

// Refresh reads the record unless another caller just did, and drops what
// it says changed.
func (w *Watcher) Refresh(ctx context.Context) error {
	w.check.Lock()
	defer w.check.Unlock()
	if w.fresh() {
		return nil
	}
	started := w.clock()
	g, err := w.store.GetAuthGeneration(ctx)
	if err != nil {
		w.forgetAll()
		return err
	}
	w.mu.Lock()
	caches := append([]Forgetter(nil), w.caches...)
	first := w.checkedAt.IsZero()
	changes, complete := g.Since(w.seen)
	w.seen, w.checkedAt = g.Gen, started
	w.mu.Unlock()
	switch {
	case first:
		// Nothing was validated before: whatever a cache holds (filled
		// before this first read) is dropped.
		forgetAll(caches)
	case !complete:
		w.log.InfoContext(ctx, "auth caches dropped: more changes than the auth generation lists", "generation", g.Gen)
		forgetAll(caches)
	case len(changes) > 0:
		for _, c := range caches {
			c.Forget(changes)
		}
	}
	return nil
}

func (w *Watcher) forgetAll() {
	w.mu.Lock()
	caches := append([]Forgetter(nil), w.caches...)
	w.checkedAt = time.Time{}
	w.mu.Unlock()
	forgetAll(caches)
}

func forgetAll(caches []Forgetter) {
	for _, c := range caches {
		c.ForgetAll()
	}
}

// Run refreshes the caches every Bound until ctx ends (the background
// refresher of a process serving requests). A failed read is logged; the
// next request then reads the record itself.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.Refresh(ctx); err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "auth generation not read", "err", err)
		}
		t.Reset(w.untilStale())
	}
}

// untilStale is how long until the last read is Bound old (a request may
// have read the record since the timer was set).
func (w *Watcher) untilStale() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.checkedAt.IsZero() {
		return w.bound
	}
	return max(w.bound-w.clock().Sub(w.checkedAt), 10*time.Millisecond)
}
