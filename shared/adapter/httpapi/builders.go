package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func (s *Server) registerBuilder(w http.ResponseWriter, r *http.Request) error {
	var spec farm.BuilderSpec
	if err := s.decode(w, r, &spec); err != nil {
		return err
	}
	p := principal(r.Context())
	for _, pool := range spec.Pools {
		if !p.MayUsePool(pool) {
			return forbidden("this token is bound to pools %s; it may not register for pool %q", strings.Join(p.Pools, ", "), clip(pool))
		}
	}
	b, err := s.sched.RegisterBuilder(r.Context(), r.PathValue("name"), spec)
	if err != nil {
		return err
	}
	cfg := s.sched.Config()
	urls := map[string]string{}
	if s.bells != nil {
		urls = s.bells.QueueURLs(b.Pools)
	}
	writeJSON(w, http.StatusOK, apiv1.BuilderRegistration{
		Builder:          b,
		QueueURLs:        urls,
		HeartbeatSeconds: seconds(cfg.Heartbeat),
		LeaseSeconds:     seconds(cfg.Lease),
	})
	return nil
}

func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func (s *Server) listBuilders(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	builders, err := s.store.ListBuilders(r.Context())
	if err != nil {
		return err
	}
	if builders == nil {
		builders = []*farm.Builder{}
	}
	writeJSON(w, http.StatusOK, apiv1.BuilderList{Builders: builders})
	return nil
}

func (s *Server) getBuilder(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	b, err := s.store.GetBuilder(r.Context(), name)
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
	if len(req.Reason) > maxReason {
		return farm.FieldError("reason", "is longer than %d characters", maxReason)
	}
	b, err := s.sched.DisableBuilder(r.Context(), name, req.Reason, principal(r.Context()).Actor())
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
	if len(req.Reason) > maxReason {
		return farm.FieldError("reason", "is longer than %d characters", maxReason)
	}
	b, err := s.sched.EnableBuilder(r.Context(), name, req.Reason, principal(r.Context()).Actor())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// maxReason bounds a disable or enable reason.
const maxReason = 1000
