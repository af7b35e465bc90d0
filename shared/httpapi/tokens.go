package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// createToken issues a token; its secret is in this answer and nowhere else.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req apiv1.TokenRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	secret, tok, err := s.auth.Issue(r.Context(), auth.IssueRequest{
		Role:      farm.Role(req.Role),
		Builder:   req.Builder,
		Name:      req.Name,
		CreatedBy: principal(r.Context()).Actor(),
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "token issued", "token_id", tok.ID, "role", tok.Role, "builder", tok.Builder)
	writeJSON(w, http.StatusCreated, apiv1.TokenResponse{Token: secret, ID: tok.ID, Role: string(tok.Role), Builder: tok.Builder})
	return nil
}
