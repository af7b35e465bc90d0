// Package tokens issues, lists, revokes and checks the farm's bearer
// tokens. Only the SHA-256 hash of a token is ever stored; the secret is
// shown once, when issued. A bootstrap admin token (FARM_ADMIN_TOKEN, or on
// AWS a Secrets Manager secret: see wiring.AdminTokenFromEnv) is never
// stored: its hash is kept in memory and compared in constant time.
package tokens

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/authgen"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service turns bearer tokens into principals and issues new tokens.
type Service struct {
	store     Store
	adminHash []byte // nil: no bootstrap admin token
	pools     farm.Pools
	now       func() time.Time
	log       *slog.Logger
	known     *authgen.Cache[farm.Principal]
	// watch validates known against the auth generation (nil: entries
	// live TokenCacheTTL).
	watch *authgen.Watcher
}

// TokenCacheTTL is how long a looked-up token is trusted without reading the
// store again by a Service without an auth generation watcher: a revoked
// token stops working at once on the API instance that revoked it (Revoke
// evicts it) and within this time on every other instance.
const TokenCacheTTL = 2 * time.Second

// WatchedTokenTTL is how long a Service with an auth generation watcher
// (WithWatcher) trusts a looked-up token: its revocation reaches every
// instance within the watcher's bound through the auth generation, so the
// entry lives until the token expires, at most this long (the backstop if
// a revocation's generation write failed).
const WatchedTokenTTL = 10 * time.Minute

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read the time from now (tests).
func WithClock(now func() time.Time) Option { return func(a *Service) { a.now = now } }

// WithPools names the builder pools the farm serves: the only ones a
// builder token may be bound to.
func WithPools(pools farm.Pools) Option { return func(a *Service) { a.pools = pools } }

// WithWatcher validates the token cache against the auth generation: the
// cache then keeps tokens for WatchedTokenTTL, and a request trusts it only
// when the watcher read the generation within its bound.
func WithWatcher(w *authgen.Watcher) Option { return func(a *Service) { a.watch = w } }

// WithLogger sends the service's log lines (tokens issued and revoked) to log.
func WithLogger(log *slog.Logger) Option { return func(a *Service) { a.log = log } }

// New returns a Service over store. A non-empty adminToken is the
// bootstrap admin token.
func New(store Store, adminToken string, opts ...Option) *Service {
	a := &Service{store: store, now: time.Now, log: slog.Default(), known: authgen.NewCache[farm.Principal](maxCachedTokens, authgen.TokenKey)}
	if adminToken != "" {
		a.adminHash = []byte(farm.HashToken(adminToken))
	}
	for _, o := range opts {
		o(a)
	}
	if a.watch != nil {
		a.watch.Watch(a.known)
	}
	return a
}

// HasBootstrapAdmin reports whether a bootstrap admin token is configured.
func (a *Service) HasBootstrapAdmin() bool { return a.adminHash != nil }

// BootstrapActor is the actor of requests made with the bootstrap admin token.
var BootstrapActor = farm.Principal{Role: farm.RoleAdmin}.Actor()

// Authenticate returns the principal a token secret stands for, or an
// EUnauthorized error for an empty or unknown token.
func (a *Service) Authenticate(ctx context.Context, secret string) (farm.Principal, error) {
	if secret == "" || len(secret) > MaxTokenLength {
		return farm.Principal{}, errUnknownToken
	}
	hash := farm.HashToken(secret)
	if a.adminHash != nil && subtle.ConstantTimeCompare([]byte(hash), a.adminHash) == 1 {
		return farm.Principal{Role: farm.RoleAdmin}, nil
	}
	if a.trustCache(ctx) {
		if p, ok := a.known.Get(hash, a.now()); ok {
			return p, nil
		}
	}
	epoch := a.known.Epoch()
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
	until := now.Add(a.cacheTTL())
	if tok.ExpiresAt != nil && tok.ExpiresAt.Before(until) {
		until = *tok.ExpiresAt
	}
	a.known.Put(hash, p, now, until, epoch)
	return p, nil
}

// trustCache reports whether the token cache may answer: always without a
// watcher (its entries live seconds), else once the auth generation was
// read within the watcher's bound (read now if not: a Lambda instance
// thawed after minutes must not trust what it cached before).
func (a *Service) trustCache(ctx context.Context) bool {
	return a.watch == nil || a.watch.Fresh(ctx) == nil
}

func (a *Service) cacheTTL() time.Duration {
	if a.watch == nil {
		return TokenCacheTTL
	}
	return WatchedTokenTTL
}

// MaxTokenLength bounds the bearer tokens worth hashing.
const MaxTokenLength = 512

var (
	errUnknownToken = farm.Errorf(farm.EUnauthorized, "missing, malformed, unknown or revoked bearer token")
	errExpiredToken = farm.Errorf(farm.EUnauthorized, "the bearer token has expired")
)
