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
// store again. Tokens are never changed once issued (and there is no
// revocation yet), so a short cache only saves a read per request.
const TokenCacheTTL = time.Minute

// New returns an Authenticator over store. A non-empty adminToken is the
// bootstrap admin token.
func New(store Store, adminToken string) *Authenticator {
	a := &Authenticator{store: store, now: time.Now}
	if adminToken != "" {
		a.adminHash = []byte(farm.HashToken(adminToken))
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
	p := farm.Principal{TokenID: tok.ID, Role: tok.Role, Builder: tok.Builder}
	a.known.put(hash, p, a.now().Add(TokenCacheTTL))
	return p, nil
}

// MaxTokenLength bounds the bearer tokens worth hashing.
const MaxTokenLength = 512

var errUnknownToken = farm.Errorf(farm.EUnauthorized, "missing, malformed or unknown bearer token")

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

// TokenPrefix starts every issued token, so that leaked tokens are easy to
// recognise (secret scanners, logs).
const TokenPrefix = "bft_"

// NewSecret returns a new token secret: the prefix and 256 random bits.
func NewSecret() string { return TokenPrefix + farm.NewSecret(32) }

// MaxTokenName bounds a token's descriptive name.
const MaxTokenName = 100

// IssueRequest describes a token to issue.
type IssueRequest struct {
	Role farm.Role
	// Builder is the one builder a builder token acts as (required for builder tokens).
	Builder string
	// Name says what the token is for.
	Name string
	// CreatedBy is the actor issuing the token.
	CreatedBy string
}

// Validate checks the request, naming the bad field.
func (r IssueRequest) Validate() error {
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

// Issue creates a token and returns its secret (shown once) and its stored
// record (which holds only the hash).
func (a *Authenticator) Issue(ctx context.Context, req IssueRequest) (string, *farm.Token, error) {
	if err := req.Validate(); err != nil {
		return "", nil, err
	}
	secret := NewSecret()
	now := a.now().UTC().Truncate(time.Millisecond)
	tok := &farm.Token{
		Hash:      farm.HashToken(secret),
		ID:        farm.NewID(now),
		Role:      req.Role,
		Builder:   req.Builder,
		Name:      req.Name,
		CreatedBy: req.CreatedBy,
		CreatedAt: now,
	}
	if err := a.store.Commit(ctx, scheduler.Tx{Tokens: []*farm.Token{tok}}); err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}
