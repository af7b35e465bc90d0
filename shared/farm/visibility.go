package farm

// AsSeenBy returns job as principal p may read it. Every token may see a
// job's status (as on Launchpad); the values of the payload fields its type
// marks secret (a script's env values) are shown only to the job's owner
// and admins. Everyone else — builders included, outside the claim that
// hands them the job — gets a copy with those values replaced and
// PayloadRedacted set.
func (r *Registry) AsSeenBy(p Principal, job *Job) *Job {
	if job == nil || p.Role == RoleAdmin || p.Owns(job) {
		return job
	}
	payload, redacted := r.Redact(job.Type, job.Payload)
	if !redacted {
		return job
	}
	c := job.Clone()
	c.Payload, c.PayloadRedacted = payload, true
	return c
}
