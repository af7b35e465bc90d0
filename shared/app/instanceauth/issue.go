package instanceauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// Request is an instance's ask for a token: its identity document and
// AWS's signature of it (from the instance metadata service), and the nonce
// it chose at its first request.
type Request struct {
	Document  string
	Signature string
	Nonce     string
}

// Membership says which group an instance belongs to (adapter/asgfleet.Groups).
type Membership interface {
	InstanceGroup(ctx context.Context, instanceID string) (group string, alive bool, err error)
}

// ClaimStore keeps instances' nonce hashes (adapter/memstore, adapter/dynamostore).
type ClaimStore interface {
	GetInstanceClaim(ctx context.Context, id string) (*fleet.InstanceClaim, error)
	PutInstanceClaim(ctx context.Context, prev, next *fleet.InstanceClaim) error
}

// Tokens issues tokens (app/tokens.Service).
type Tokens interface {
	Issue(ctx context.Context, req tokens.IssueRequest) (string, *farm.Token, error)
}

// Issuer turns instance identities into builder tokens.
type Issuer struct {
	Verifier *Verifier
	Fleet    fleet.Config
	Groups   Membership
	Store    ClaimStore
	Tokens   Tokens
	Logger   *slog.Logger
	Clock    func() time.Time
}

// Nonce bounds.
const (
	MinNonce = 32
	MaxNonce = 256
	// ClaimTTL is how long the farm remembers an instance after its last request.
	ClaimTTL = 30 * 24 * time.Hour
)

// Actor issues instance tokens (their created_by).
const Actor = "instance-identity"

// Issue checks an instance's request and returns a builder token for it:
// its secret and its record (bound to the instance id and its group's pool,
// expiring after the fleet's token lifetime).
func (i *Issuer) Issue(ctx context.Context, req Request) (string, *farm.Token, error) {
	if len(req.Nonce) < MinNonce || len(req.Nonce) > MaxNonce {
		return "", nil, farm.FieldError("nonce", "must be %d to %d characters, the same at every request of one instance", MinNonce, MaxNonce)
	}
	if req.Document == "" || req.Signature == "" {
		return "", nil, farm.FieldError("document", "document and signature are required (from /latest/dynamic/instance-identity/)")
	}
	doc, err := i.Verifier.Verify(req.Document, req.Signature)
	if err != nil {
		return "", nil, farm.Errorf(farm.EUnauthorized, "%v", err)
	}
	if i.Fleet.Account != "" && doc.AccountID != i.Fleet.Account {
		return "", nil, farm.Errorf(farm.EForbidden, "instance %s belongs to another AWS account", doc.InstanceID)
	}
	group, alive, err := i.Groups.InstanceGroup(ctx, doc.InstanceID)
	if err != nil {
		return "", nil, err
	}
	pool, ours := i.Fleet.ByGroup(group)
	if !ours || !alive {
		return "", nil, farm.Errorf(farm.EForbidden, "instance %s is not a pending or in-service member of this farm's Auto Scaling groups", doc.InstanceID)
	}
	if err := i.checkNonce(ctx, doc.InstanceID, pool.Pool, req.Nonce); err != nil {
		return "", nil, err
	}
	secret, tok, err := i.Tokens.Issue(ctx, tokens.IssueRequest{
		Role: farm.RoleBuilder, Builder: doc.InstanceID, Pools: []string{pool.Pool},
		ExpiresIn: i.Fleet.TokenLifetime(), Name: "instance " + doc.InstanceID + " of " + group, CreatedBy: Actor,
	})
	if err != nil {
		return "", nil, err
	}
	i.log().InfoContext(ctx, "instance token issued", "instance_id", doc.InstanceID, "group", group, "pool", pool.Pool, "token_id", tok.ID, "expires_at", tok.ExpiresAt)
	return secret, tok, nil
}

// checkNonce records the nonce of an instance's first request, and holds
// every later one to it.
func (i *Issuer) checkNonce(ctx context.Context, id, pool, nonce string) error {
	sum := sha256.Sum256([]byte(nonce))
	hash := hex.EncodeToString(sum[:])
	now := i.now()
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := i.Store.GetInstanceClaim(ctx, id)
		switch {
		case farm.IsCode(err, farm.ENotFound):
			first := &fleet.InstanceClaim{InstanceID: id, NonceHash: hash, Pool: pool, FirstAt: now, LastAt: now, ExpiresAt: now.Add(ClaimTTL), Version: 1}
			err := i.Store.PutInstanceClaim(ctx, nil, first)
			if errors.Is(err, store.ErrLostRace) {
				continue // a concurrent first request: compare with its nonce
			}
			return err
		case err != nil:
			return err
		}
		if subtle.ConstantTimeCompare([]byte(cur.NonceHash), []byte(hash)) != 1 {
			i.log().WarnContext(ctx, "instance token refused: another nonce than the instance's first request", "instance_id", id)
			return farm.Errorf(farm.EForbidden, "instance %s asked before with another nonce", id)
		}
		next := *cur
		next.LastAt, next.ExpiresAt, next.Version = now, now.Add(ClaimTTL), cur.Version+1
		_ = i.Store.PutInstanceClaim(ctx, cur, &next) // only a note of when it was last seen
		return nil
	}
	return farm.Errorf(farm.EConflict, "instance %s: concurrent first requests; try again", id)
}

func (i *Issuer) now() time.Time {
	if i.Clock != nil {
		return i.Clock().UTC()
	}
	return time.Now().UTC()
}

func (i *Issuer) log() *slog.Logger {
	if i.Logger == nil {
		return slog.Default()
	}
	return i.Logger
}
