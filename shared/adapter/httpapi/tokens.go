package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func (s *Server) tokenRoutes() []route {
	return []route{
		{"POST", "/v1/tokens", adminOnly, s.createToken},
		{"GET", "/v1/tokens", adminOnly, s.listTokens},
		{"DELETE", "/v1/tokens/{id}", adminOnly, s.revokeToken},
	}
}

// createToken issues a token; its secret is in this answer and nowhere else.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req apiv1.TokenRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	issue := auth.IssueRequest{
		Role:      farm.Role(req.Role),
		Builder:   req.Builder,
		Pools:     req.Pools,
		Name:      req.Name,
		CreatedBy: principal(r.Context()).Actor(),
	}
	if req.ExpiresInSeconds != nil {
		n := *req.ExpiresInSeconds
		if max := int64(auth.MaxTokenLifetime / time.Second); n < 1 || n > max {
			return farm.FieldError("expires_in_seconds", "must be between 1 and %d", max)
		}
		issue.ExpiresIn = time.Duration(n) * time.Second
	}
	if err := issue.Validate(); err != nil {
		return err
	}
	served := s.sched.Pools()
	for i, p := range req.Pools {
		if !slices.Contains(served, p) {
			return farm.FieldError(fmt.Sprintf("pools[%d]", i), "this farm serves no pool %q (pools: %s)", p, strings.Join(served, ", "))
		}
	}
	secret, tok, err := s.auth.Issue(r.Context(), issue)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "token issued", "token_id", tok.ID, "role", tok.Role, "builder", tok.Builder, "pools", tok.Pools, "expires_at", tok.ExpiresAt)
	writeJSON(w, http.StatusCreated, apiv1.TokenResponse{Token: secret, ID: tok.ID, Role: string(tok.Role), Builder: tok.Builder, Pools: tok.Pools, ExpiresAt: tok.ExpiresAt})
	return nil
}

// listTokens lists the tokens that work, without their secrets or hashes.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	toks, err := s.auth.List(r.Context())
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []*farm.Token{}
	}
	writeJSON(w, http.StatusOK, apiv1.TokenList{Tokens: toks})
	return nil
}

// revokeToken deletes a token: it answers 401 from then on.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.noBody(w, r); err != nil {
		return err
	}
	tok, err := s.auth.Revoke(r.Context(), strings.ToUpper(r.PathValue("id")))
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "token revoked", "token_id", tok.ID, "role", tok.Role, "builder", tok.Builder, "by", principal(r.Context()).Actor())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
