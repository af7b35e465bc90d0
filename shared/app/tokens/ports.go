package tokens

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the tokens service reads and writes.
type Store interface {
	GetToken(ctx context.Context, hash string) (*farm.Token, error)
	ListTokens(ctx context.Context) ([]*farm.Token, error)
	DeleteToken(ctx context.Context, id string) (*farm.Token, error)
	Commit(ctx context.Context, tx store.Tx) error
	// GetAuthGeneration reads the record a revocation bumps (store.BumpAuth).
	GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error)
}
