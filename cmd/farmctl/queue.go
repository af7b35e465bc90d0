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
		row(w, "POOL", "QUEUED", "RUNNING", "WAITING", "IDLE", "BUSY", "UNAVAILABLE", "SLOTS", "OLDEST-WAIT", "NEXT-START")
		for _, p := range q.Pools {
			var oldest string
			if p.OldestWaitSeconds > 0 {
				oldest = fmtDuration(time.Duration(p.OldestWaitSeconds * float64(time.Second)))
			}
			row(w, p.Pool, itoa(p.Queued), itoa(p.Running), itoa(p.Waiting), itoa(p.BuildersIdle), itoa(p.BuildersBusy),
				itoa(p.BuildersOther), itoa(p.Slots), oldest, fmtUntil(p.EstimatedStartAt, now))
		}
	})
}
