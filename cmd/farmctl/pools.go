package main

import (
	"io"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func runPoolsPut(c *call) error {
	fs := c.flags()
	description := fs.String("description", "", "`TEXT`: what the pool's resources are")
	leaseSeconds := fs.Int("lease-seconds", 0, "how many `SECONDS` a holder keeps a resource unless it releases it sooner")
	cleanScript := fs.String("clean-script", "", "sh `SCRIPT` that cleans a released resource (run as a clean-resource job)")
	args, err := c.parse(fs, 1, 1)
	if err != nil {
		return err
	}
	// Only the given flags are sent: an update leaves the other settings as they are.
	given := givenFlags(fs)
	var req apiv1.ResourcePoolRequest
	if given["description"] {
		req.Description = description
	}
	if given["lease-seconds"] {
		if *leaseSeconds <= 0 {
			return c.usage("--lease-seconds must be positive")
		}
		req.LeaseSeconds = leaseSeconds
	}
	if given["clean-script"] {
		req.CleanScript = cleanScript
	}
	pool, err := c.client.PutResourcePool(c.ctx, args[0], req)
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) { writePool(w, pool) })
}

func runPoolsAddResource(c *call) error {
	fs := c.flags()
	attributes := attrs{}
	fs.Var(attributes, "attr", "an attribute `KEY=VALUE` of the resource (repeat for more)")
	args, err := c.parse(fs, 2, 2)
	if err != nil {
		return err
	}
	req := apiv1.AddResourceRequest{Name: args[1]}
	if len(attributes) > 0 {
		req.Attributes = attributes
	}
	r, err := c.client.AddResource(c.ctx, args[0], req)
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) { writeResource(w, r) })
}

func runPoolsGet(c *call) error {
	args, err := c.parse(c.flags(), 1, 1)
	if err != nil {
		return err
	}
	view, err := c.client.GetResourcePool(c.ctx, args[0])
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) {
		if view.ResourcePool != nil {
			writePool(w, view.ResourcePool)
		}
		io.WriteString(w, "\n")
		row(w, "RESOURCE", "STATE", "HOLDER", "LEASE-EXPIRES", "CLEAN-JOB", "ATTRIBUTES")
		for _, r := range view.Resources {
			state := string(r.State)
			if r.Flagged != "" {
				state += " (flagged)"
			}
			row(w, r.Name, state, r.Holder, fmtTime(r.LeaseExpiresAt), r.CleanJobID, attrs(r.Attributes).String())
		}
	})
}

func runPoolsAcquire(c *call) error {
	fs := c.flags()
	var req apiv1.AcquireRequest
	fs.StringVar(&req.Holder, "holder", "", "`HOLDER`: who holds the resource (required)")
	fs.IntVar(&req.LeaseSeconds, "lease-seconds", 0, "lease length in `SECONDS` (default: the pool's)")
	args, err := c.parse(fs, 1, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(req.Holder) == "" {
		return c.usage("--holder is required")
	}
	if req.LeaseSeconds < 0 {
		return c.usage("--lease-seconds must not be negative")
	}
	got, err := c.client.AcquireResource(c.ctx, args[0], req)
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) {
		var name, pool, attributes string
		if got.Resource != nil {
			name, pool, attributes = got.Resource.Name, got.Resource.Pool, attrs(got.Resource.Attributes).String()
		}
		fields(w, []field{
			{"resource", name},
			{"pool", pool},
			{"attributes", attributes},
			{"lease_token", got.LeaseToken},
			{"lease_expires_at", fmtTime(&got.LeaseExpiresAt)},
		})
	})
}

func runPoolsRelease(c *call) error {
	fs := c.flags()
	token := fs.String("lease-token", "", "the lease `TOKEN` acquire printed (required)")
	args, err := c.parse(fs, 2, 2)
	if err != nil {
		return err
	}
	if *token == "" {
		return c.usage("--lease-token is required")
	}
	r, err := c.client.ReleaseResource(c.ctx, args[0], args[1], *token)
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) { writeResource(w, r) })
}

func writePool(w io.Writer, p *farm.ResourcePool) {
	fields(w, []field{
		{"pool", p.Name},
		{"description", p.Description},
		{"lease_seconds", nonZero(p.LeaseSeconds)},
		{"clean_script", p.CleanScript},
		{"created_at", fmtTime(&p.CreatedAt)},
		{"updated_at", fmtTime(&p.UpdatedAt)},
	})
}

func writeResource(w io.Writer, r *farm.Resource) {
	fields(w, []field{
		{"resource", r.Name},
		{"pool", r.Pool},
		{"state", string(r.State)},
		{"holder", r.Holder},
		{"lease_expires_at", fmtTime(r.LeaseExpiresAt)},
		{"clean_job_id", r.CleanJobID},
		{"clean_failures", nonZero(r.CleanFailures)},
		{"flagged", r.Flagged},
		{"attributes", attrs(r.Attributes).String()},
		{"updated_at", fmtTime(&r.UpdatedAt)},
	})
}
