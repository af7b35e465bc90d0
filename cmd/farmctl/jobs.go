package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func runJobsList(c *call) error {
	fs := c.flags()
	var opts client.ListJobsOptions
	fs.StringVar(&opts.Status, "status", "", "only jobs in this `STATUS` (waiting, queued, running, cancelling, succeeded, failed, cancelled, timed_out)")
	fs.StringVar(&opts.Type, "type", "", "only jobs of this `TYPE`")
	fs.StringVar(&opts.Pool, "pool", "", "only jobs of this `POOL`")
	fs.StringVar(&opts.RequestedBy, "requested-by", "", "only jobs submitted by this `ACTOR` (as in requested_by)")
	mine := fs.Bool("mine", false, "only the jobs this token submitted")
	fs.IntVar(&opts.Limit, "limit", 0, "`N` jobs per page (0: the farm's default)")
	fs.StringVar(&opts.Cursor, "cursor", "", "start at this `CURSOR`, the next_cursor of an earlier page")
	all := fs.Bool("all", false, "follow next_cursor through every page")
	if _, err := c.parse(fs, 0, 0); err != nil {
		return err
	}
	if opts.Status != "" {
		if _, err := farm.ParseJobStatus(opts.Status); err != nil {
			return c.usage("--status: unknown status %q", opts.Status)
		}
	}
	if opts.Limit < 0 {
		return c.usage("--limit must not be negative")
	}
	if *mine {
		if opts.RequestedBy != "" {
			return c.usage("give --mine or --requested-by, not both")
		}
		me, err := c.client.WhoAmI(c.ctx)
		if err != nil {
			return err
		}
		opts.RequestedBy = me.Actor
	}
	if !*all {
		page, err := c.client.ListJobs(c.ctx, opts)
		if err != nil {
			return err
		}
		if err := c.show(func(w io.Writer) { jobTable(w, page.Jobs) }); err != nil {
			return err
		}
		if page.NextCursor != "" && c.output == outputTable {
			fmt.Fprintf(c.stderr, "more jobs: --cursor %s (or --all)\n", page.NextCursor)
		}
		return nil
	}
	jobs, raw, err := c.listAllJobs(opts)
	if err != nil {
		return err
	}
	if c.output == outputJSON {
		// One answer of the farm's shape, holding every page's jobs as the farm sent them.
		return printJSON(c.stdout, struct {
			Jobs []json.RawMessage `json:"jobs"`
		}{raw})
	}
	tw := newTable(c.stdout)
	jobTable(tw, jobs)
	return tw.Flush()
}

// listAllJobs follows next_cursor from opts to the last page. It returns the
// jobs decoded and as the farm sent them.
func (c *call) listAllJobs(opts client.ListJobsOptions) ([]*farm.Job, []json.RawMessage, error) {
	jobs, raw := []*farm.Job{}, []json.RawMessage{}
	seen := map[string]bool{}
	for {
		page, err := c.client.ListJobs(c.ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		var rawPage struct {
			Jobs []json.RawMessage `json:"jobs"`
		}
		if err := json.Unmarshal(c.raw.take(), &rawPage); err != nil {
			return nil, nil, fmt.Errorf("jobs page: %w", err)
		}
		jobs, raw = append(jobs, page.Jobs...), append(raw, rawPage.Jobs...)
		if page.NextCursor == "" {
			return jobs, raw, nil
		}
		// A farm that hands back a cursor twice would keep farmctl here forever.
		if seen[page.NextCursor] {
			return nil, nil, fmt.Errorf("the farm returned cursor %q twice", page.NextCursor)
		}
		seen[page.NextCursor] = true
		opts.Cursor = page.NextCursor
	}
}

func jobTable(w io.Writer, jobs []*farm.Job) {
	jobHeader(w)
	for _, j := range jobs {
		jobRow(w, j)
	}
}

// showJob prints a job the farm answered.
func (c *call) showJob(j *farm.Job) error {
	return c.show(func(w io.Writer) { writeJob(w, j, c.now()) })
}

// jobCommand runs a command whose one argument is a job ID and whose answer is the job.
func jobCommand(c *call, do func(id string) (*farm.Job, error)) error {
	args, err := c.parse(c.flags(), 1, 1)
	if err != nil {
		return err
	}
	job, err := do(args[0])
	if err != nil {
		return err
	}
	return c.showJob(job)
}

func runJobsGet(c *call) error {
	return jobCommand(c, func(id string) (*farm.Job, error) { return c.client.GetJob(c.ctx, id) })
}

func runJobsCancel(c *call) error {
	return jobCommand(c, func(id string) (*farm.Job, error) { return c.client.CancelJob(c.ctx, id) })
}

func runJobsRetry(c *call) error {
	return jobCommand(c, func(id string) (*farm.Job, error) { return c.client.RetryJob(c.ctx, id) })
}

func runJobsScore(c *call) error {
	args, err := c.parse(c.flags(), 2, 2)
	if err != nil {
		return err
	}
	score, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return c.usage("SCORE must be a whole number, not %q", args[1])
	}
	job, err := c.client.ScoreJob(c.ctx, args[0], score)
	if err != nil {
		return err
	}
	return c.showJob(job)
}

func runJobsEvents(c *call) error {
	args, err := c.parse(c.flags(), 1, 1)
	if err != nil {
		return err
	}
	events, err := c.client.JobEvents(c.ctx, args[0])
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) {
		row(w, "AT", "FROM", "TO", "ACTOR", "DETAIL")
		for _, e := range events {
			row(w, fmtTime(&e.At), string(e.From), string(e.To), e.Actor, e.Detail)
		}
	})
}
