package store

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// The auth generation record (farm.AuthGeneration) is bumped by every
// change that makes an API instance's cached token or claimant record
// wrong: a token revoked, a builder's record as claims check it changed.
// The builders service writes it in the same transaction as the builder
// (AuthBump); a revocation writes it right after deleting the token
// (BumpAuth).

// AuthGenWrite replaces the auth generation record: Prev is the record as
// read (nil or Gen 0: none is stored yet), and the write is conditional on
// the stored Gen still being Prev's.
type AuthGenWrite struct{ Prev, Next *farm.AuthGeneration }

// AuthGenStore reads and writes the auth generation record.
type AuthGenStore interface {
	GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error)
	Commit(ctx context.Context, tx Tx) error
}

// AuthBump reads the record and returns the write that adds one generation
// of changes to it, for a transaction (nil when there are none).
func AuthBump(ctx context.Context, st AuthGenStore, changes ...farm.AuthChange) (*AuthGenWrite, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	cur, err := st.GetAuthGeneration(ctx)
	if err != nil {
		return nil, err
	}
	return &AuthGenWrite{Prev: cur, Next: cur.Next(changes...)}, nil
}

// BumpAuth adds one generation of changes to the record on its own,
// re-reading while it loses races with other bumps.
func BumpAuth(ctx context.Context, st AuthGenStore, changes ...farm.AuthChange) error {
	return RetryOnConflict(ctx, func() error {
		w, err := AuthBump(ctx, st, changes...)
		if err != nil || w == nil {
			return err
		}
		return st.Commit(ctx, Tx{AuthGen: w})
	})
}

// ClaimantChanges lists the builders whose record as claims check it the
// writes change (farm.Builder.SameForClaims); a created builder is no
// change (no instance caches a builder it could not read).
func ClaimantChanges(ws []BuilderWrite) []farm.AuthChange {
	var out []farm.AuthChange
	for _, w := range ws {
		if w.Prev != nil && !w.Prev.SameForClaims(w.Next) {
			out = append(out, farm.AuthChange{Builder: w.Next.Name})
		}
	}
	return out
}
