package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunAuthGenContract checks the auth generation record: absent it reads as
// generation 0; each write is conditional on the generation read (two
// writers from the same read: one wins); it round-trips its changes; it
// commits atomically with a builder write; and it is no token.
func RunAuthGenContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("ConditionalRoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		g0, err := s.GetAuthGeneration(ctx)
		must(t, err)
		if g0 == nil || g0.Gen != 0 || len(g0.Changes) != 0 {
			t.Fatalf("no record yet: %+v, want generation 0", g0)
		}
		first := g0.Next(farm.AuthChange{TokenHash: farm.HashToken("revoked")})
		must(t, s.Commit(ctx, store.Tx{AuthGen: &store.AuthGenWrite{Prev: g0, Next: first}}))
		// A second writer that read generation 0 too loses.
		rival := g0.Next(farm.AuthChange{Builder: "b1"})
		mustCode(t, s.Commit(ctx, store.Tx{AuthGen: &store.AuthGenWrite{Prev: g0, Next: rival}}), farm.EConflict)
		got, err := s.GetAuthGeneration(ctx)
		must(t, err)
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("read back %+v, want %+v", got, first)
		}
		must(t, store.BumpAuth(ctx, s, farm.AuthChange{Builder: "b1"}, farm.AuthChange{Builder: "b2"}))
		got, err = s.GetAuthGeneration(ctx)
		must(t, err)
		changes, complete := got.Since(1)
		if got.Gen != 2 || !complete || len(changes) != 2 || changes[0].Builder != "b1" || changes[1].Builder != "b2" || changes[1].Gen != 2 {
			t.Fatalf("after a second bump: %+v (since 1: %+v %v)", got, changes, complete)
		}
		// The record is no token: listing shows none.
		toks, err := s.ListTokens(ctx)
		must(t, err)
		if len(toks) != 0 {
			t.Fatalf("tokens listed beside the auth generation: %+v", toks)
		}
	})

	t.Run("AtomicWithABuilderWrite", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		b := &farm.Builder{Name: "b1", Kind: farm.KindMetal, Pools: []string{"default"}, Slots: 1, State: farm.BuilderIdle,
			CleanStatus: farm.CleanClean, CurrentJobs: []string{}, Capabilities: []string{}, RegisteredAt: t0, UpdatedAt: t0, Version: 1}
		must(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Next: b}}}))
		g0, err := s.GetAuthGeneration(ctx)
		must(t, err)
		must(t, store.BumpAuth(ctx, s, farm.AuthChange{TokenHash: farm.HashToken("x")})) // someone else bumps first
		disabled := b.Clone()
		disabled.Disabled, disabled.Version, disabled.UpdatedAt = true, 2, t0.Add(time.Second)
		stale := &store.AuthGenWrite{Prev: g0, Next: g0.Next(farm.AuthChange{Builder: "b1"})}
		mustCode(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: disabled}}, AuthGen: stale}), farm.EConflict)
		cur, err := s.GetBuilder(ctx, "b1")
		must(t, err)
		if cur.Disabled || cur.Version != 1 {
			t.Fatalf("the builder write of a transaction whose generation lost was applied: %+v", cur)
		}
		w, err := store.AuthBump(ctx, s, store.ClaimantChanges([]store.BuilderWrite{{Prev: b, Next: disabled}})...)
		must(t, err)
		must(t, s.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: disabled}}, AuthGen: w}))
		g, err := s.GetAuthGeneration(ctx)
		must(t, err)
		if changes, ok := g.Since(1); g.Gen != 2 || !ok || len(changes) != 1 || changes[0].Builder != "b1" {
			t.Fatalf("after disabling b1: %+v", g)
		}
	})
}
