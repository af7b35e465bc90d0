package tokens

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/farm"
)

type countingStore struct {
	*memstore.Store
	reads int
}

func (c *countingStore) GetToken(ctx context.Context, hash string) (*farm.Token, error) {
	c.reads++
	return c.Store.GetToken(ctx, hash)
}

func TestKnownTokensAreReadAgainAfterSeconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &countingStore{Store: memstore.New()}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a := New(store, "")
	a.now = func() time.Time { return now }
	secret, _, err := a.Issue(ctx, IssueRequest{Role: farm.RoleSubmitter, CreatedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p, err := a.Authenticate(ctx, secret)
		if err != nil || p.Role != farm.RoleSubmitter {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
	}
	if store.reads != 1 {
		t.Fatalf("%d store reads for 3 requests, want 1", store.reads)
	}
	// Revocation reaches every API instance through the store: a cache
	// entry must live seconds, not minutes.
	if TokenCacheTTL > 5*time.Second {
		t.Fatalf("TokenCacheTTL %v: a revoked token would work that long on other instances", TokenCacheTTL)
	}
	now = now.Add(TokenCacheTTL)
	if _, err := a.Authenticate(ctx, secret); err != nil || store.reads != 2 {
		t.Fatalf("after the TTL: %v, %d reads", err, store.reads)
	}
	// Unknown tokens are never cached as known.
	for range 2 {
		if _, err := a.Authenticate(ctx, "bft_nope"); !farm.IsCode(err, farm.EUnauthorized) {
			t.Fatalf("unknown token: %v", err)
		}
	}
	if store.reads != 4 {
		t.Fatalf("%d reads, want unknown tokens read each time", store.reads)
	}
}

func TestRevokingEvictsAndExpiryBoundsTheCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &countingStore{Store: memstore.New()}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := New(store, "", WithClock(clock), WithPools(farm.NewPools([]string{"default"})))
	other := New(store, "", WithClock(clock)) // a second API instance
	secret, tok, err := a.Issue(ctx, IssueRequest{Role: farm.RoleSubmitter})
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range []*Service{a, other} {
		if _, err := inst.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Revoke(ctx, farm.Principal{Role: farm.RoleAdmin}, tok.ID); err != nil {
		t.Fatal(err)
	}
	// The instance that revoked forgets the token at once.
	if _, err := a.Authenticate(ctx, secret); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("revoked token on the revoking instance: %v", err)
	}
	// Another instance within its cache entry's life may still accept it;
	// once that ends, it refuses it.
	now = now.Add(TokenCacheTTL)
	if _, err := other.Authenticate(ctx, secret); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("revoked token on another instance after %v: %v", TokenCacheTTL, err)
	}
	if _, err := a.Revoke(ctx, farm.Principal{Role: farm.RoleAdmin}, tok.ID); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("revoking twice: %v", err)
	}

	// A token cached a moment before it expires is refused when it does.
	short, _, err := a.Issue(ctx, IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default"}, ExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(900 * time.Millisecond)
	p, err := a.Authenticate(ctx, short)
	if err != nil || p.Builder != "b1" || len(p.Pools) != 1 || p.Pools[0] != "default" {
		t.Fatalf("bound builder token: %+v %v", p, err)
	}
	now = now.Add(100 * time.Millisecond)
	_, err = a.Authenticate(ctx, short)
	if !farm.IsCode(err, farm.EUnauthorized) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	toks, err := a.List(ctx)
	if err != nil || len(toks) != 0 {
		t.Fatalf("list after revoking one and the other expiring: %+v %v", toks, err)
	}
}
