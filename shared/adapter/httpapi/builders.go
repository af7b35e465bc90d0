package httpapi

import (
	"net/http"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func (s *Server) registerBuilder(w http.ResponseWriter, r *http.Request) error {
	var spec farm.BuilderSpec
	if err := s.decode(w, r, &spec); err != nil {
		return err
	}
	reg, err := s.builders.Register(r.Context(), principal(r.Context()), r.PathValue("name"), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.BuilderRegistration{
		Builder:          reg.Builder,
		QueueURLs:        reg.QueueURLs,
		HeartbeatSeconds: seconds(reg.Heartbeat),
		LeaseSeconds:     seconds(reg.Lease),
	})
	return nil
}

func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func (s *Server) listBuilders(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	builders, err := s.builders.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.BuilderList{Builders: builders})
	return nil
}

func (s *Server) getBuilder(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	b, err := s.builders.Get(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) disableBuilder(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	var req apiv1.ReasonRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	b, err := s.builders.Disable(r.Context(), principal(r.Context()), name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) enableBuilder(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	var req apiv1.ReasonRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		return err
	}
	b, err := s.builders.Enable(r.Context(), principal(r.Context()), name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
