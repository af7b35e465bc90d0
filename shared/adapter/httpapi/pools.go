package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// poolRoutes are the resource pools: named sets of reusable resources
// handed out synchronously under a lease token and cleaned by a
// clean-resource job after their holder releases them.
func (s *Server) poolRoutes() []route {
	return []route{
		{"GET", "/v1/resource-pools", anyRole, s.listResourcePools},
		{"PUT", "/v1/resource-pools/{pool}", adminOnly, s.putResourcePool},
		{"GET", "/v1/resource-pools/{pool}", anyRole, s.getResourcePool},
		{"POST", "/v1/resource-pools/{pool}/resources", adminOnly, s.addResource},
		{"POST", "/v1/resource-pools/{pool}/acquire", submitters, s.acquireResource},
		{"POST", "/v1/resource-pools/{pool}/resources/{name}/release", resourceHolders, s.releaseResource},
	}
}

// pathResourcePool returns the resource pool name of the path. A name that
// cannot name a pool is ENotFound, like an unknown one.
func pathResourcePool(r *http.Request) (string, error) {
	name := r.PathValue("pool")
	if !farm.ValidPoolName(name) {
		return "", farm.Errorf(farm.ENotFound, "resource pool %q not found", clip(name))
	}
	return name, nil
}

// pathResourceName returns the resource name of the path. A name that
// cannot name a resource is ENotFound, like an unknown one.
func pathResourceName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !farm.ValidResourceName(name) {
		return "", farm.Errorf(farm.ENotFound, "resource %q not found", clip(name))
	}
	return name, nil
}

// putResourcePool creates (201) or updates (200) a pool; fields left out
// keep their value.
func (s *Server) putResourcePool(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("pool")
	if err := farm.CheckName("pool", name); err != nil {
		return err
	}
	var req apiv1.ResourcePoolRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	pool, created, err := s.resources.PutPool(r.Context(), name, resources.PoolUpdate{
		Description:  req.Description,
		LeaseSeconds: req.LeaseSeconds,
		CleanScript:  req.CleanScript,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, pool)
	return nil
}

func (s *Server) listResourcePools(w http.ResponseWriter, r *http.Request) error {
	pools, err := s.resources.Pools(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.ResourcePoolList{Pools: pools})
	return nil
}

func (s *Server) getResourcePool(w http.ResponseWriter, r *http.Request) error {
	name, err := pathResourcePool(r)
	if err != nil {
		return err
	}
	pool, held, err := s.resources.Pool(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.ResourcePoolView{ResourcePool: pool, Resources: held})
	return nil
}

func (s *Server) addResource(w http.ResponseWriter, r *http.Request) error {
	pool, err := pathResourcePool(r)
	if err != nil {
		return err
	}
	var req apiv1.AddResourceRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.resources.AddResource(r.Context(), pool, req.Name, req.Attributes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// acquireResource hands a free resource to the caller; the lease token in
// the answer is the only proof of holding it.
func (s *Server) acquireResource(w http.ResponseWriter, r *http.Request) error {
	pool, err := pathResourcePool(r)
	if err != nil {
		return err
	}
	var req apiv1.AcquireRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.resources.Acquire(r.Context(), principal(r.Context()), pool, req.Holder, req.LeaseSeconds)
	if err != nil {
		return err
	}
	resp := apiv1.AcquireResponse{Resource: res, LeaseToken: res.LeaseToken}
	if res.LeaseExpiresAt != nil {
		resp.LeaseExpiresAt = *res.LeaseExpiresAt
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// releaseResource gives a resource back: it becomes dirty and a
// clean-resource job is queued. Only the principal that acquired it (or an
// admin) may release it, and only with its lease token.
func (s *Server) releaseResource(w http.ResponseWriter, r *http.Request) error {
	pool, err := pathResourcePool(r)
	if err != nil {
		return err
	}
	name, err := pathResourceName(r)
	if err != nil {
		return err
	}
	var req apiv1.ReleaseRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.resources.Release(r.Context(), principal(r.Context()), pool, name, req.LeaseToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
