package builders

import (
	"context"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// DefaultCacheTTL is how long a claim trusts a builder record it read:
// a claim reads no builder item (a claim is the hottest path of all), at
// the price of an admin's disable or drain reaching claims served by
// another API instance up to this late. Writes through this service drop
// the cached record at once.
const DefaultCacheTTL = 5 * time.Second

// cache keeps builder records read for claims, for ttl.
type cache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cached
}

type cached struct {
	b  *farm.Builder
	at time.Time
}

func (c *cache) get(name string, now time.Time) *farm.Builder {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil
	}
	return e.b.Clone()
}

func (c *cache) put(b *farm.Builder, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[b.Name] = cached{b: b.Clone(), at: now}
}

func (c *cache) drop(names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		delete(c.m, n)
	}
}

// commit writes through the store and drops the builders it wrote from the
// cache (whether or not the write succeeded: either way the cached record
// may be stale).
// Builders' current jobs are derived (FillCurrentJobs), never stored: the
// item is written without them.
func (s *Service) commit(ctx context.Context, tx store.Tx) error {
	for i, w := range tx.Builders {
		next := w.Next.Clone()
		next.CurrentJobs = []string{}
		tx.Builders[i].Next = next
	}
	err := s.store.Commit(ctx, tx)
	for _, w := range tx.Builders {
		s.cache.drop(w.Next.Name)
	}
	return err
}

// Claimant returns builder name as a claim checks it (pools, disabled,
// draining, clean status): the record read at most the cache's TTL ago.
func (s *Service) Claimant(ctx context.Context, name string) (*farm.Builder, error) {
	now := s.clock()
	if b := s.cache.get(name, now); b != nil {
		return b, nil
	}
	b, err := s.store.GetBuilder(ctx, name)
	if err != nil {
		return nil, err
	}
	s.cache.put(b, now)
	return b, nil
}
