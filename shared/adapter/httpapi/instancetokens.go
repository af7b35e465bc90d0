package httpapi

import (
	"context"
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/instanceauth"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// InstanceTokens issues builder tokens to EC2 instances of the farm's Auto
// Scaling groups on their signed identity (app/instanceauth.Issuer).
type InstanceTokens interface {
	Issue(ctx context.Context, req instanceauth.Request) (string, *farm.Token, error)
}

// SetInstanceTokens enables POST /v1/instance-tokens (a farm with an EC2
// fleet); without it the route answers 401.
func (s *Server) SetInstanceTokens(i InstanceTokens) { s.instances = i }

func init() { routeGroups = append(routeGroups, (*Server).instanceTokenRoutes) }

func (s *Server) instanceTokenRoutes() []route {
	return []route{
		// Public: the signed instance identity document is the credential.
		{"POST", "/v1/instance-tokens", public, s.instanceToken},
	}
}

// instanceToken gives an instance of the fleet a builder token of its own.
func (s *Server) instanceToken(w http.ResponseWriter, r *http.Request) error {
	var req apiv1.InstanceTokenRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if s.instances == nil {
		return farm.Errorf(farm.EUnauthorized, "this farm issues no instance tokens: it has no EC2 fleet identity configured")
	}
	secret, tok, err := s.instances.Issue(r.Context(), instanceauth.Request{Document: req.Document, Signature: req.Signature, Nonce: req.Nonce})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, apiv1.TokenResponse{Token: secret, ID: tok.ID, Role: string(tok.Role), Builder: tok.Builder, Pools: tok.Pools, ExpiresAt: tok.ExpiresAt})
	return nil
}
