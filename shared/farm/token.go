package farm

import (
	"crypto/sha256"
	"encoding/hex"
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
	Hash      string    `json:"-"`
	ID        string    `json:"id"`
	Role      Role      `json:"role"`
	Builder   string    `json:"builder,omitempty"`
	Name      string    `json:"name,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
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
