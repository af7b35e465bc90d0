package auth

import (
	"context"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/memstore"
)

type countingStore struct {
	*memstore.Store
	reads int
}

func (c *countingStore) GetToken(ctx context.Context, hash string) (*farm.Token, error) {
	c.reads++
	return c.Store.GetToken(ctx, hash)
}

func TestKnownTokensAreReadOnceAMinute(t *testing.T) {
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
