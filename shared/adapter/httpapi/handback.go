package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
)

func init() { routeGroups = append(routeGroups, (*Server).handBackRoutes) }

func (s *Server) handBackRoutes() []route {
	return []route{
		{"POST", "/v1/jobs/{id}/release", claimHolders, s.handBack},
	}
}

// handBack requeues a job its builder gives up (a spot interruption notice):
// at once, fenced by the claim token, with the reason in its history.
func (s *Server) handBack(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	var req apiv1.HandBackRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	after, err := s.claims.HandBack(r.Context(), principal(r.Context()), id, req.ClaimToken, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, after)
	return nil
}
