package main

import (
	"io"
	"time"
)

func runQueue(c *call) error {
	if _, err := c.parse(c.flags(), 0, 0); err != nil {
		return err
	}
	q, err := c.client.Queue(c.ctx)
	if err != nil {
		return err
	}
	now := c.now()
	return c.show(func(w io.Writer) {
		row(w, "POOL", "QUEUED", "RUNNING", "WAITING", "IDLE", "BUSY", "UNAVAILABLE", "SLOTS", "OLDEST-WAIT", "NEXT-START", "START-P50", "START-P90", "STARTED-1H")
		for _, p := range q.Pools {
			var oldest, p50, p90 string
			if p.OldestWaitSeconds > 0 {
				oldest = fmtDuration(seconds(p.OldestWaitSeconds))
			}
			// Time to start over the last hour; none started: no figure.
			if p.StartedLastHour > 0 {
				p50, p90 = fmtDuration(seconds(p.TimeToStartP50Seconds)), fmtDuration(seconds(p.TimeToStartP90Seconds))
			}
			row(w, p.Pool, itoa(p.Queued), itoa(p.Running), itoa(p.Waiting), itoa(p.BuildersIdle), itoa(p.BuildersBusy),
				itoa(p.BuildersOther), itoa(p.Slots), oldest, fmtUntil(p.EstimatedStartAt, now), p50, p90, itoa(p.StartedLastHour))
		}
	})
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
