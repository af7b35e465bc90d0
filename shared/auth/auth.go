// Package auth issues and checks the farm's bearer tokens. Only the SHA-256
// hash of a token is ever stored; the secret is shown once, when issued. A
// bootstrap admin token (FARM_ADMIN_TOKEN, or on AWS a Secrets Manager
// secret) is never stored: its hash is kept in memory and compared in
// constant time.
package auth

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/scheduler"
)

// Store is what auth needs of the farm's store.
type Store interface {
	GetToken(ctx context.Context, hash string) (*farm.Token, error)
	ListTokens(ctx context.Context) ([]*farm.Token, error)
	DeleteToken(ctx context.Context, id string) (*farm.Token, error)
	Commit(ctx context.Context, tx scheduler.Tx) error
}

// Authenticator turns bearer tokens into principals and issues new tokens.
type Authenticator struct {
	store     Store
	adminHash []byte // nil: no bootstrap admin token
	now       func() time.Time
	known     tokenCache
}

// TokenCacheTTL is how long a looked-up token is trusted without reading the
// store again. A revoked token stops working at once on the API instance
// that revoked it (Revoke evicts it) and within this time on every other
// instance (each Lambda instance has its own cache). It only saves the
// store read of bursts of requests with the same token.
const TokenCacheTTL = 2 * time.Second

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithClock makes the Authenticator read the time from now (tests).
func WithClock(now func() time.Time) Option { return func(a *Authenticator) { a.now = now } }

// New returns an Authenticator over store. A non-empty adminToken is the
// bootstrap admin token.
func New(store Store, adminToken string, opts ...Option) *Authenticator {
	a := &Authenticator{store: store, now: time.Now}
	if adminToken != "" {
		a.adminHash = []byte(farm.HashToken(adminToken))
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// HasBootstrapAdmin reports whether a bootstrap admin token is configured.
func (a *Authenticator) HasBootstrapAdmin() bool { return a.adminHash != nil }

// BootstrapActor is the actor of requests made with the bootstrap admin token.
var BootstrapActor = farm.Principal{Role: farm.RoleAdmin}.Actor()

// Authenticate returns the principal a token secret stands for, or an
// EUnauthorized error for an empty or unknown token.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (farm.Principal, error) {
	if secret == "" || len(secret) > MaxTokenLength {
		return farm.Principal{}, errUnknownToken
	}
	hash := farm.HashToken(secret)
	if a.adminHash != nil && subtle.ConstantTimeCompare([]byte(hash), a.adminHash) == 1 {
		return farm.Principal{Role: farm.RoleAdmin}, nil
	}
	if p, ok := a.known.get(hash, a.now()); ok {
		return p, nil
	}
	tok, err := a.store.GetToken(ctx, hash)
	if farm.IsCode(err, farm.ENotFound) {
		return farm.Principal{}, errUnknownToken
	}
	if err != nil {
		return farm.Principal{}, err
	}
	// The store found the token by its hash; compare again in constant time
	// so that no store quirk (case folding, prefix match) lets another in.
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 || !tok.Role.Valid() {
		return farm.Principal{}, errUnknownToken
	}
	now := a.now()
	if tok.Expired(now) {
		return farm.Principal{}, errExpiredToken
	}
	p := farm.Principal{TokenID: tok.ID, Role: tok.Role, Builder: tok.Builder, Pools: tok.Pools}
	until := now.Add(TokenCacheTTL)
	if tok.ExpiresAt != nil && tok.ExpiresAt.Before(until) {
		until = *tok.ExpiresAt
	}
	a.known.put(hash, p, now, until)
	return p, nil
}

// MaxTokenLength bounds the bearer tokens worth hashing.
const MaxTokenLength = 512

var (
	errUnknownToken = farm.Errorf(farm.EUnauthorized, "missing, malformed, unknown or revoked bearer token")
	errExpiredToken = farm.Errorf(farm.EUnauthorized, "the bearer token has expired")
)

// ParseBearer extracts the token of an Authorization header
// ("Bearer <token>", the scheme case-insensitive).
func ParseBearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" {
		return "", farm.Errorf(farm.EUnauthorized, "an Authorization: Bearer <token> header is required")
	}
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", farm.Errorf(farm.EUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	return token, nil
}
