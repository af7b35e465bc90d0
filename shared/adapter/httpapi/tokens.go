package httpapi

import (
	"net/http"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
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
	secret, tok, err := s.tokens.Issue(r.Context(), tokens.IssueRequest{
		Role:             farm.Role(req.Role),
		Builder:          req.Builder,
		Pools:            req.Pools,
		Name:             req.Name,
		ExpiresInSeconds: req.ExpiresInSeconds,
		CreatedBy:        principal(r.Context()).Actor(),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, apiv1.TokenResponse{Token: secret, ID: tok.ID, Role: string(tok.Role), Builder: tok.Builder, Pools: tok.Pools, ExpiresAt: tok.ExpiresAt})
	return nil
}

// listTokens lists the tokens that work, without their secrets or hashes.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	toks, err := s.tokens.List(r.Context())
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
	if _, err := s.tokens.Revoke(r.Context(), principal(r.Context()), strings.ToUpper(r.PathValue("id"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
