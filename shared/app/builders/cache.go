package builders

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/authgen"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// DefaultCacheTTL is how long a claim trusts a builder record it read
// when the service has no auth generation watcher: a claim reads no
// builder item (a claim is the hottest path of all), at the price of an
// admin's disable or drain reaching claims served by another API instance
// up to this late. Writes through this service drop the cached record at
// once.
const DefaultCacheTTL = 5 * time.Second

// WatchedCacheTTL is how long a claim trusts a builder record with an auth
// generation watcher (Options.Watcher): every write that changes the
// record as a claim checks it bumps the generation (commit), which every
// instance reads within the watcher's bound; this TTL only bounds what a
// write that bypassed this service could leave stale — as long as a
// looked-up token is trusted (tokens.WatchedTokenTTL), so that a busy
// instance reads neither again on its own.
const WatchedCacheTTL = 10 * time.Minute

// maxCachedBuilders bounds the claimant cache.
const maxCachedBuilders = 4096

// commit writes through the store and drops from the cache the builders it
// changed as claims check them (all it wrote, when the write failed). A write that changes a builder as claims check it
// (farm.Builder.SameForClaims) bumps the auth generation in the same
// transaction, so other API instances drop their cached record within
// seconds.
// Builders' current jobs are derived (FillCurrentJobs), never stored: the
// item is written without them.
func (s *Service) commit(ctx context.Context, tx store.Tx) error {
	for i, w := range tx.Builders {
		next := w.Next.Clone()
		next.CurrentJobs = []string{}
		tx.Builders[i].Next = next
	}
	changes := store.ClaimantChanges(tx.Builders)
	gen, err := store.AuthBump(ctx, s.store, changes...)
	if err == nil {
		tx.AuthGen = gen
		err = s.store.Commit(ctx, tx)
	}
	var names []string
	for _, w := range tx.Builders {
		// A write claims decide alike on (a heartbeat, most of them)
		// leaves the cached record as good as it was; a failed one may
		// have lost to a write this process did not see.
		if err != nil || !w.Prev.SameForClaims(w.Next) {
			names = append(names, w.Next.Name)
		}
	}
	if len(names) > 0 {
		s.cache.Drop(names...)
	}
	return err
}

// Claimant returns builder name as a claim checks it (pools, disabled,
// draining, clean status): a record validated against the auth generation
// within the watcher's bound, or without a watcher read at most the
// cache's TTL ago.
func (s *Service) Claimant(ctx context.Context, name string) (*farm.Builder, error) {
	if s.cacheTTL > 0 && (s.watch == nil || s.watch.Fresh(ctx) == nil) {
		if b, ok := s.cache.Get(name, s.clock()); ok {
			return b.Clone(), nil
		}
	}
	epoch := s.cache.Epoch()
	b, err := s.store.GetBuilder(ctx, name)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	s.cache.Put(name, b.Clone(), now, now.Add(s.cacheTTL), epoch)
	return b, nil
}

func newClaimantCache() *authgen.Cache[*farm.Builder] {
	return authgen.NewCache[*farm.Builder](maxCachedBuilders, authgen.BuilderKey)
}
