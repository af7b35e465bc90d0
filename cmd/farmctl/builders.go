package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

func runBuildersList(c *call) error {
	if _, err := c.parse(c.flags(), 0, 0); err != nil {
		return err
	}
	builders, err := c.client.ListBuilders(c.ctx)
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) {
		row(w, "NAME", "KIND", "ARCH", "STATE", "POOLS", "JOBS", "FAILURES", "LAST-HEARTBEAT", "REASON")
		for _, b := range builders {
			row(w, b.Name, string(b.Kind), b.Arch, string(b.State), strings.Join(b.Pools, ","),
				fmt.Sprintf("%d/%d", len(b.CurrentJobs), b.Slots), itoa(b.ConsecutiveFailures),
				fmtTime(b.LastHeartbeat), b.DisabledReason)
		}
	})
}

func runBuildersGet(c *call) error {
	args, err := c.parse(c.flags(), 1, 1)
	if err != nil {
		return err
	}
	b, err := c.client.GetBuilder(c.ctx, args[0])
	if err != nil {
		return err
	}
	return c.showBuilder(b)
}

func runBuildersDisable(c *call) error {
	fs := c.flags()
	reason := fs.String("reason", "", "`REASON`: why (required; shown with the builder)")
	args, err := c.parse(fs, 1, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return c.usage("--reason is required")
	}
	b, err := c.client.DisableBuilder(c.ctx, args[0], *reason)
	if err != nil {
		return err
	}
	return c.showBuilder(b)
}

func runBuildersEnable(c *call) error {
	fs := c.flags()
	reason := fs.String("reason", "", "`REASON`: why (recorded with the builder)")
	args, err := c.parse(fs, 1, 1)
	if err != nil {
		return err
	}
	b, err := c.client.EnableBuilder(c.ctx, args[0], *reason)
	if err != nil {
		return err
	}
	return c.showBuilder(b)
}

func (c *call) showBuilder(b *farm.Builder) error {
	now := c.now()
	return c.show(func(w io.Writer) {
		var heartbeat string
		if b.LastHeartbeat != nil {
			heartbeat = fmtTime(b.LastHeartbeat) + " (" + fmtDuration(now.Sub(*b.LastHeartbeat).Round(time.Second)) + " ago)"
		}
		fields(w, []field{
			{"name", b.Name},
			{"kind", string(b.Kind)},
			{"arch", b.Arch},
			{"state", string(b.State)},
			{"disabled_reason", b.DisabledReason},
			{"pools", strings.Join(b.Pools, ",")},
			{"capabilities", strings.Join(b.Capabilities, ",")},
			{"slots", itoa(b.Slots)},
			{"current_jobs", strings.Join(b.CurrentJobs, ",")},
			{"clean_status", string(b.CleanStatus)},
			{"last_heartbeat", heartbeat},
			{"consecutive_failures", itoa(b.ConsecutiveFailures)},
			{"total_failures", itoa(b.TotalFailures)},
			{"jobs_completed", itoa(b.JobsCompleted)},
			{"metadata", attrs(b.Metadata).String()},
			{"registered_at", fmtTime(&b.RegisteredAt)},
			{"updated_at", fmtTime(&b.UpdatedAt)},
		})
	})
}
