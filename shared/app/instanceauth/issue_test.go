package instanceauth_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/instanceauth"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/testkit/instanceauthtest"
)

type members map[string]string // instance id -> group (alive)

func (m members) InstanceGroup(_ context.Context, id string) (string, bool, error) {
	g, ok := m[id]
	return g, ok, nil
}

const nonce = "n0nce-0123456789abcdef0123456789abcdef"

func TestInstanceTokens(t *testing.T) {
	t.Parallel()
	signer, err := instanceauthtest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := instanceauth.ParseCertificates(signer.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a := tokens.New(store, "", tokens.WithClock(func() time.Time { return now }), tokens.WithPools(farm.NewPools([]string{"arm64"})))
	iss := &instanceauth.Issuer{
		Verifier: verifier, Store: store, Tokens: a, Logger: slog.New(slog.DiscardHandler),
		Fleet:  fleet.Config{Account: "123456789012", TokenSeconds: 1800, Pools: []fleet.PoolConfig{{Pool: "arm64", Group: "farm-arm64", Max: 4, Slots: 2}}},
		Groups: members{"i-0aaa": "farm-arm64", "i-0bbb": "someone-elses"},
	}
	ctx := context.Background()
	req := func(d instanceauthtest.Document, nonce string) instanceauth.Request {
		doc, sig := signer.Sign(d)
		return instanceauth.Request{Document: doc, Signature: sig, Nonce: nonce}
	}
	good := instanceauthtest.Document{InstanceID: "i-0aaa", AccountID: "123456789012"}

	secret, tok, err := iss.Issue(ctx, req(good, nonce))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != farm.RoleBuilder || tok.Builder != "i-0aaa" || len(tok.Pools) != 1 || tok.Pools[0] != "arm64" || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(now.Add(30*time.Minute)) {
		t.Fatalf("token %+v", tok)
	}
	p, err := a.Authenticate(ctx, secret)
	if err != nil || p.Builder != "i-0aaa" || !p.MayUsePool("arm64") || p.MayUsePool("default") {
		t.Fatalf("principal %+v %v: want builder i-0aaa bound to arm64", p, err)
	}
	// A renewal with the same nonce works; the same document with another is refused.
	if _, _, err := iss.Issue(ctx, req(good, nonce)); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if _, _, err := iss.Issue(ctx, req(good, "another-nonce-0123456789abcdef0123456789")); !farm.IsCode(err, farm.EForbidden) {
		t.Fatalf("copied document with another nonce: %v, want forbidden", err)
	}
	cases := []struct {
		name string
		req  instanceauth.Request
		code string
	}{
		{"short nonce", req(good, "short"), farm.EInvalid},
		{"tampered document", func() instanceauth.Request {
			r := req(good, nonce)
			r.Document = r.Document[:len(r.Document)-1] + " }"
			return r
		}(), farm.EUnauthorized},
		{"signed by someone else", func() instanceauth.Request {
			other, _ := instanceauthtest.NewSigner()
			doc, sig := other.Sign(good)
			return instanceauth.Request{Document: doc, Signature: sig, Nonce: nonce}
		}(), farm.EUnauthorized},
		{"another account", req(instanceauthtest.Document{InstanceID: "i-0aaa", AccountID: "999999999999"}, nonce), farm.EForbidden},
		{"an instance of another group", req(instanceauthtest.Document{InstanceID: "i-0bbb", AccountID: "123456789012"}, nonce), farm.EForbidden},
		{"an instance of no group (or gone)", req(instanceauthtest.Document{InstanceID: "i-0ccc", AccountID: "123456789012"}, nonce), farm.EForbidden},
	}
	for _, c := range cases {
		if _, _, err := iss.Issue(ctx, c.req); !farm.IsCode(err, c.code) {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}
