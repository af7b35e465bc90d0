package auth_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestIssueAndAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	a := auth.New(store, "bootstrap-admin-token-0123456789")

	for _, tc := range []struct {
		req  auth.IssueRequest
		want farm.Principal
	}{
		{auth.IssueRequest{Role: farm.RoleSubmitter, Name: "ci", CreatedBy: "admin"}, farm.Principal{Role: farm.RoleSubmitter}},
		{auth.IssueRequest{Role: farm.RoleBuilder, Builder: "b-1"}, farm.Principal{Role: farm.RoleBuilder, Builder: "b-1"}},
		{auth.IssueRequest{Role: farm.RoleAdmin}, farm.Principal{Role: farm.RoleAdmin}},
	} {
		secret, tok, err := a.Issue(ctx, tc.req)
		if err != nil {
			t.Fatalf("issue %+v: %v", tc.req, err)
		}
		if !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) != len(auth.TokenPrefix)+64 {
			t.Errorf("secret %q: want %s and 64 hex digits", secret, auth.TokenPrefix)
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
	if err != nil || p.Role != farm.RoleAdmin || p.Actor() != auth.BootstrapActor {
		t.Fatalf("bootstrap admin: %+v, %v", p, err)
	}
	if _, err := store.GetToken(ctx, farm.HashToken("bootstrap-admin-token-0123456789")); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("the bootstrap admin token must never be stored: %v", err)
	}
	for _, bad := range []string{"", "bootstrap-admin-token-012345678", "bft_" + strings.Repeat("0", 64), strings.Repeat("x", auth.MaxTokenLength+1)} {
		if _, err := a.Authenticate(ctx, bad); !farm.IsCode(err, farm.EUnauthorized) {
			t.Errorf("Authenticate(%.20q) = %v, want unauthorized", bad, err)
		}
	}
}

func TestNoBootstrapAdmin(t *testing.T) {
	t.Parallel()
	a := auth.New(memstore.New(), "")
	if a.HasBootstrapAdmin() {
		t.Fatal("no admin token was given")
	}
	if _, err := a.Authenticate(context.Background(), ""); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("empty token: %v", err)
	}
}

func TestIssueValidation(t *testing.T) {
	t.Parallel()
	a := auth.New(memstore.New(), "")
	for _, tc := range []struct {
		req   auth.IssueRequest
		field string
	}{
		{auth.IssueRequest{}, "role"},
		{auth.IssueRequest{Role: "root"}, "role"},
		{auth.IssueRequest{Role: farm.RoleBuilder}, "builder"},
		{auth.IssueRequest{Role: farm.RoleBuilder, Builder: "Bad Name"}, "builder"},
		{auth.IssueRequest{Role: farm.RoleSubmitter, Builder: "b1"}, "builder"},
		{auth.IssueRequest{Role: farm.RoleAdmin, Name: strings.Repeat("n", auth.MaxTokenName+1)}, "name"},
		{auth.IssueRequest{Role: farm.RoleAdmin, Name: "a\nb"}, "name"},
		{auth.IssueRequest{Role: farm.RoleSubmitter, Pools: []string{"default"}}, "pools"},
		{auth.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{}}, "pools"},
		{auth.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default", "Bad"}}, "pools[1]"},
		{auth.IssueRequest{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default", "default"}}, "pools[1]"},
		{auth.IssueRequest{Role: farm.RoleSubmitter, ExpiresIn: -time.Second}, "expires_in_seconds"},
		{auth.IssueRequest{Role: farm.RoleSubmitter, ExpiresIn: auth.MaxTokenLifetime + time.Second}, "expires_in_seconds"},
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

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"abc", "", false},
	} {
		got, err := auth.ParseBearer(tc.header)
		if tc.ok != (err == nil) || got != tc.token {
			t.Errorf("ParseBearer(%q) = %q, %v", tc.header, got, err)
		}
		if err != nil && !farm.IsCode(err, farm.EUnauthorized) {
			t.Errorf("ParseBearer(%q) error %v is not unauthorized", tc.header, err)
		}
	}
}
