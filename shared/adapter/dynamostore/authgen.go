package dynamostore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The auth generation record is one reserved item of the tokens table: no
// token's key (a SHA-256 in hex) can be authGenKey, and the item has no
// token_shard, so it is on no index and no token listing shows it. It stays
// under one 4 KB read unit (farm.AuthChangeWindow changes).
const authGenKey = "#auth-generation"

type authGenRecord struct {
	Key     string             `dynamodbav:"token_hash"`
	Gen     int64              `dynamodbav:"gen"`
	Dropped int64              `dynamodbav:"dropped"`
	Changes []authChangeRecord `dynamodbav:"changes"`
}

type authChangeRecord struct {
	Gen     int64  `dynamodbav:"g"`
	Token   string `dynamodbav:"t,omitempty"`
	Builder string `dynamodbav:"b,omitempty"`
}

func toAuthGenRecord(g *farm.AuthGeneration) authGenRecord {
	r := authGenRecord{Key: authGenKey, Gen: g.Gen, Dropped: g.Dropped, Changes: []authChangeRecord{}}
	for _, c := range g.Changes {
		r.Changes = append(r.Changes, authChangeRecord{Gen: c.Gen, Token: c.TokenHash, Builder: c.Builder})
	}
	return r
}

func (r authGenRecord) authGen() *farm.AuthGeneration {
	g := &farm.AuthGeneration{Gen: r.Gen, Dropped: r.Dropped}
	for _, c := range r.Changes {
		g.Changes = append(g.Changes, farm.AuthChange{Gen: c.Gen, TokenHash: c.Token, Builder: c.Builder})
	}
	return g
}

// GetAuthGeneration reads the auth generation record (strongly consistent:
// a revocation is seen by the next read after it), Gen 0 when none exists.
func (s *Store) GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error) {
	var rec authGenRecord
	ok, err := s.get(ctx, s.top.Tokens.Name, map[string]types.AttributeValue{"token_hash": str(authGenKey)}, &rec)
	if err != nil || !ok {
		return &farm.AuthGeneration{}, err
	}
	return rec.authGen(), nil
}

// authGenCondition: the stored record is still w.Prev (by Gen), or absent.
func authGenCondition(w *store.AuthGenWrite) *expression.ConditionBuilder {
	if w.Prev == nil || w.Prev.Gen == 0 {
		return absent("token_hash")
	}
	c := expression.Name("gen").Equal(expression.Value(w.Prev.Gen))
	return &c
}
