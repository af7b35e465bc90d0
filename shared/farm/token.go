package farm

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Role is what a token may do.
type Role string

const (
	RoleSubmitter Role = "submitter"
	RoleBuilder   Role = "builder"
	RoleAdmin     Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleSubmitter || r == RoleBuilder || r == RoleAdmin
}

// Token is an API credential. Only the SHA-256 hash of the secret is stored.
type Token struct {
	Hash    string `json:"-"`
	ID      string `json:"id"`
	Role    Role   `json:"role"`
	Builder string `json:"builder,omitempty"`
	// Pools bind a builder token: the only pools its builder may register
	// for and claim from (empty: any pool the farm serves).
	Pools     []string  `json:"pools,omitempty"`
	Name      string    `json:"name,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt ends the token (nil: it lives until revoked).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Expired reports whether the token no longer works at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Clone returns a deep copy.
func (t *Token) Clone() *Token {
	if t == nil {
		return nil
	}
	c := *t
	c.Pools = slices.Clone(t.Pools)
	c.ExpiresAt = cloneTime(t.ExpiresAt)
	return &c
}

// HashToken returns the stored form of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Principal is the identity behind a request.
type Principal struct {
	TokenID string
	Role    Role
	// Builder is set for builder tokens: the one builder it may act as.
	Builder string
	// Pools, for a builder token bound to pools, are the only pools it may
	// register for and claim from; empty means no binding.
	Pools []string
}

// Actor names the principal in job history and requested_by.
func (p Principal) Actor() string {
	switch {
	case p.Role == RoleBuilder:
		return "builder:" + p.Builder
	case p.TokenID == "":
		return string(p.Role)
	}
	return string(p.Role) + ":" + p.TokenID
}

// MayUsePool reports whether the principal may register for or claim from
// pool: anyone but a builder token bound to other pools.
func (p Principal) MayUsePool(pool string) bool {
	return p.Role != RoleBuilder || len(p.Pools) == 0 || slices.Contains(p.Pools, pool)
}

// Owns reports whether the principal submitted job (requested_by is its actor).
func (p Principal) Owns(job *Job) bool {
	return p.Role != RoleBuilder && job.RequestedBy == p.Actor()
}
