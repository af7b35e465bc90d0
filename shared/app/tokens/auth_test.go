package tokens_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestIssueAndAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	a := tokens.New(store, "bootstrap-admin-token-0123456789")

	for _, tc := range []struct {
		req  tokens.IssueRequest
		want farm.Principal
	}{
		{tokens.IssueRequest{Role: farm.RoleSubmitter, Name: "ci", CreatedBy: "admin"}, farm.Principal{Role: farm.RoleSubmitter}},
		{tokens.IssueRequest{Role: farm.RoleBuilder, Builder: "b-1"}, farm.Principal{Role: farm.RoleBuilder, Builder: "b-1"}},
		{tokens.IssueRequest{Role: farm.RoleAdmin}, farm.Principal{Role: farm.RoleAdmin}},
	} {
		secret, tok, err := a.Issue(ctx, tc.req)
		if err != nil {
			t.Fatalf("issue %+v: %v", tc.req, err)
		}
		if !strings.HasPrefix(secret, tokens.TokenPrefix) || len(secret) != len(tokens.TokenPrefix)+64 {
			t.Errorf("secret %q: want %s and 64 hex digits", secret, tokens.TokenPrefix)
		}
		// Only the hash is stored.
		stored, err := store.GetToken(ctx, farm.HashToken(secret))
		if err != nil {
			t.Fatal(err)
		}
		if stored.Hash != farm.HashToken(secret) || strings.Contains(stored.Hash, secret) || stored.ID != tok.ID || stored.CreatedBy != tc.req.CreatedBy || stored.Name != tc.req.Name {
			t.Errorf("stored token %+v", stored)
		}
		p, err := a.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		tc.want.TokenID = tok.ID
		if !reflect.DeepEqual(p, tc.want) {
			t.Errorf("principal = %+v, want %+v", p, tc.want)
		}
	}

	p, err := a.Authenticate(ctx, "bootstrap-admin-token-0123456789")
	if err != nil || p.Role != farm.RoleAdmin || p.Actor() != tokens.BootstrapActor {
		t.Fatalf("bootstrap admin: %+v, %v", p, err)
	}
	if _, err := store.GetToken(ctx, farm.HashToken("bootstrap-admin-token-0123456789")); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("the bootstrap admin token must never be stored: %v", err)
	}
	for _, bad := range []string{"", "bootstrap-admin-token-012345678", "bft_" + strings.Repeat("0", 64), strings.Repeat("x", tokens.MaxTokenLength+1)} {
		if _, err := a.Authenticate(ctx, bad); !farm.IsCode(err, farm.EUnauthorized) {
			t.Errorf("Authenticate(%.20q) = %v, want unauthorized", bad, err)
		}
	}
}

func TestNoBootstrapAdmin(t *testing.T) {
	t.Parallel()
	a := tokens.New(memstore.New(), "")
	if a.HasBootstrapAdmin() {
		t.Fatal("no admin token was given")
	}
	if _, err := a.Authenticate(context.Background(), ""); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("empty token: %v", err)
	}
}

func TestIssueValidation(t *testing.T) {
	t.Parallel()
	a := tokens.New(memstore.New(), "", tokens.WithPools(farm.NewPools([]string{"default"})))
	seconds := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		req   tokens.IssueRequest
		field string
	}{
		{tokens.IssueRequest{}, "role"},
		{tokens.IssueRequest{Role: "root"}, "role"},
		{tokens.IssueRequest{Role: farm.RoleBuilder}, "builder"},
		{tokens.IssueRequest{Role: farm.RoleBuilder, Builder: "Bad Name"}, "builder"},
		{tokens.IssueRequest{Role: farm.RoleSubmitter, Builder: "b1"}, "builder"},
		{tokens.IssueRequest{Role: farm.RoleAdmin, Name: strings.Repeat("n", tokens.MaxTokenName+1)}, "name"},
		{tokens.IssueRequest{Role: farm.RoleAdmin, Name: "a\nb"}, "name"},
		{tokens.IssueRequest{Role: farm.RoleSubmitter, Pools: []string{"default"}}, "pools"},
		{tokens.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{}}, "pools"},
		{tokens.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default", "Bad"}}, "pools[1]"},
		{tokens.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default", "default"}}, "pools[1]"},
		{tokens.IssueRequest{Role: farm.RoleSubmitter, ExpiresIn: -time.Second}, "expires_in_seconds"},
		{tokens.IssueRequest{Role: farm.RoleSubmitter, ExpiresIn: tokens.MaxTokenLifetime + time.Second}, "expires_in_seconds"},
		{tokens.IssueRequest{Role: farm.RoleSubmitter, ExpiresInSeconds: seconds(0)}, "expires_in_seconds"},
		{tokens.IssueRequest{Role: farm.RoleSubmitter, ExpiresInSeconds: seconds(int64(tokens.MaxTokenLifetime/time.Second) + 1)}, "expires_in_seconds"},
		// A builder token is bound only to pools the farm serves.
		{tokens.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default", "gpu"}}, "pools[1]"},
	} {
		_, _, err := a.Issue(context.Background(), tc.req)
		var fe *farm.Error
		if !farm.IsCode(err, farm.EInvalid) || !asError(err, &fe) || fe.Field != tc.field {
			t.Errorf("Issue(%+v) = %v, want invalid on field %q", tc.req, err, tc.field)
		}
	}
}

func asError(err error, target **farm.Error) bool {
	e, ok := err.(*farm.Error)
	*target = e
	return ok
}
