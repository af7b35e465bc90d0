package tokens

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// TokenPrefix starts every issued token, so that leaked tokens are easy to
// recognise (secret scanners, logs).
const TokenPrefix = "bft_"

// NewSecret returns a new token secret: the prefix and 256 random bits.
func NewSecret() string { return TokenPrefix + farm.NewSecret(32) }

// Token limits.
const (
	// MaxTokenName bounds a token's descriptive name.
	MaxTokenName = 100
	// MaxTokenPools bounds the pools a builder token is bound to.
	MaxTokenPools = 50
	// MaxTokenLifetime bounds expires_in_seconds (ten years).
	MaxTokenLifetime = 10 * 365 * 24 * time.Hour
)

// IssueRequest describes a token to issue.
type IssueRequest struct {
	Role farm.Role
	// Builder is the one builder a builder token acts as (required for builder tokens).
	Builder string
	// Pools bind a builder token to these pools (none: unbound).
	Pools []string
	// ExpiresIn ends the token this long after it is issued (0: never).
	ExpiresIn time.Duration
	// ExpiresInSeconds, when set, is ExpiresIn in seconds (the API's form).
	ExpiresInSeconds *int64
	// Name says what the token is for.
	Name string
	// CreatedBy is the actor issuing the token.
	CreatedBy string
}

// Validate checks the request, naming the bad field.
func (r IssueRequest) Validate() error {
	if _, err := r.lifetime(); err != nil {
		return err
	}
	if !r.Role.Valid() {
		if r.Role == "" {
			return farm.FieldError("role", "is required (submitter, builder or admin)")
		}
		return farm.FieldError("role", "must be submitter, builder or admin, not %q", r.Role)
	}
	if r.Role == farm.RoleBuilder {
		if r.Builder == "" {
			return farm.FieldError("builder", "is required for a builder token: the builder it acts as")
		}
		if err := farm.CheckName("builder", r.Builder); err != nil {
			return err
		}
	} else if r.Builder != "" {
		return farm.FieldError("builder", "is only for builder tokens")
	}
	if err := r.checkPools(); err != nil {
		return err
	}
	if lifetime, _ := r.lifetime(); lifetime < 0 || lifetime > MaxTokenLifetime {
		return farm.FieldError("expires_in_seconds", "must be between 1 and %d seconds", int64(MaxTokenLifetime/time.Second))
	}
	if len(r.Name) > MaxTokenName {
		return farm.FieldError("name", "is longer than %d characters", MaxTokenName)
	}
	for _, c := range r.Name {
		if c < 0x20 || c == 0x7f {
			return farm.FieldError("name", "must not hold control characters")
		}
	}
	return nil
}

// lifetime is how long the token works (0: for ever).
func (r IssueRequest) lifetime() (time.Duration, error) {
	if r.ExpiresInSeconds == nil {
		return r.ExpiresIn, nil
	}
	n := *r.ExpiresInSeconds
	if max := int64(MaxTokenLifetime / time.Second); n < 1 || n > max {
		return 0, farm.FieldError("expires_in_seconds", "must be between 1 and %d", max)
	}
	return time.Duration(n) * time.Second, nil
}

func (r IssueRequest) checkPools() error {
	if r.Pools == nil {
		return nil
	}
	if r.Role != farm.RoleBuilder {
		return farm.FieldError("pools", "bind builder tokens only")
	}
	if len(r.Pools) == 0 || len(r.Pools) > MaxTokenPools {
		return farm.FieldError("pools", "must name 1 to %d pools (leave it out for an unbound token)", MaxTokenPools)
	}
	for i, p := range r.Pools {
		field := fmt.Sprintf("pools[%d]", i)
		if err := farm.CheckName(field, p); err != nil {
			return err
		}
		if slices.Index(r.Pools, p) != i {
			return farm.FieldError(field, "pool %q is listed twice", p)
		}
	}
	return nil
}

// Issue creates a token and returns its secret (shown once) and its stored
// record (which holds only the hash). A builder token may be bound only to
// pools the farm serves.
func (a *Service) Issue(ctx context.Context, req IssueRequest) (string, *farm.Token, error) {
	if err := req.Validate(); err != nil {
		return "", nil, err
	}
	for i, p := range req.Pools {
		if !a.pools.Serves(p) {
			return "", nil, farm.FieldError(fmt.Sprintf("pools[%d]", i), "this farm serves no pool %q (pools: %s)", p, a.pools)
		}
	}
	lifetime, _ := req.lifetime()
	secret := NewSecret()
	now := a.now().UTC().Truncate(time.Millisecond)
	tok := &farm.Token{
		Hash:      farm.HashToken(secret),
		ID:        farm.NewID(now),
		Role:      req.Role,
		Builder:   req.Builder,
		Pools:     slices.Clone(req.Pools),
		Name:      req.Name,
		CreatedBy: req.CreatedBy,
		CreatedAt: now,
	}
	if lifetime > 0 {
		tok.ExpiresAt = farm.TimePtr(now.Add(lifetime))
	}
	if err := a.store.Commit(ctx, store.Tx{Tokens: []*farm.Token{tok}}); err != nil {
		return "", nil, err
	}
	a.log.InfoContext(ctx, "token issued", "token_id", tok.ID, "role", tok.Role, "builder", tok.Builder, "pools", tok.Pools, "expires_at", tok.ExpiresAt)
	return secret, tok, nil
}

// List returns the tokens that still work (not expired), oldest first. The
// bootstrap admin token is not among them: it is not stored.
func (a *Service) List(ctx context.Context) ([]*farm.Token, error) {
	toks, err := a.store.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	return slices.DeleteFunc(toks, func(t *farm.Token) bool { return t.Expired(now) }), nil
}

// Revoke deletes the token with id and bumps the auth generation naming
// it: it answers 401 from now on here, and on every other API instance
// within its watcher's bound (authgen.DefaultBound). An unknown id is
// ENotFound. by is the admin revoking it. If the generation write fails
// after the delete, the error is returned: the token is gone from the
// store, and instances that cached it drop it at the latest when their
// entry ends (WatchedTokenTTL).
func (a *Service) Revoke(ctx context.Context, by farm.Principal, id string) (*farm.Token, error) {
	if !farm.ValidID(id) {
		return nil, farm.Errorf(farm.ENotFound, "token %.40q not found", id)
	}
	tok, err := a.store.DeleteToken(ctx, id)
	if err != nil {
		return nil, err
	}
	a.known.Drop(tok.Hash)
	if err := store.BumpAuth(ctx, a.store, farm.AuthChange{TokenHash: tok.Hash}); err != nil {
		a.log.ErrorContext(ctx, "token revoked, but the auth generation was not bumped: other API instances may accept it until their cache entry ends",
			"token_id", tok.ID, "max_delay", WatchedTokenTTL, "err", err)
		return nil, err
	}
	a.log.InfoContext(ctx, "token revoked", "token_id", tok.ID, "role", tok.Role, "builder", tok.Builder, "by", by.Actor())
	return tok, nil
}
