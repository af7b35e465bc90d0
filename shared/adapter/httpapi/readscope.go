package httpapi

import (
	"github.com/buildfarm/buildfarm/shared/farm"
)

// visible returns job as p may read it. Every token may see a job's status
// (as on Launchpad); the values of the payload fields its type marks secret
// (a script's env values) are shown only to the job's owner and admins —
// and, through its claim, to the builder that runs it. Everyone else gets a
// copy with those values replaced and payload_redacted set.
func (s *Server) visible(p farm.Principal, job *farm.Job) *farm.Job {
	if job == nil || p.Role == farm.RoleAdmin || p.Owns(job) {
		return job
	}
	payload, redacted := s.sched.Registry().Redact(job.Type, job.Payload)
	if !redacted {
		return job
	}
	c := job.Clone()
	c.Payload, c.PayloadRedacted = payload, true
	return c
}

// visibleJobs is visible for each job of a listing.
func (s *Server) visibleJobs(p farm.Principal, jobs []*farm.Job) []*farm.Job {
	out := make([]*farm.Job, len(jobs))
	for i, j := range jobs {
		out[i] = s.visible(p, j)
	}
	return out
}
