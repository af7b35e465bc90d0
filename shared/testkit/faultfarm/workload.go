package faultfarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/farmcheck"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

// Script is a job's shell script that records each of its runs (one line
// per run in RunsDir/<job id>), sleeps, and succeeds.
func (f *Farm) Script(sleep time.Duration) string {
	return fmt.Sprintf(`echo "$FARM_ATTEMPT" >> %q/"$FARM_JOB_ID"; sleep %.3f; echo done`, f.RunsDir, sleep.Seconds())
}

// scriptLogging is Script printing logBytes more bytes of log first.
func (f *Farm) scriptLogging(sleep time.Duration, logBytes int) string {
	if logBytes <= 0 {
		return f.Script(sleep)
	}
	return fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x; echo; `, logBytes) + f.Script(sleep)
}

// Submit submits one script job with idempotency key key (none when
// empty) through the retrying submitter, and says what the farm answered.
func (f *Farm) Submit(ctx context.Context, key string, sleep time.Duration) farmcheck.Submission {
	return f.submit(ctx, key, sleep, 0)
}

func (f *Farm) submit(ctx context.Context, key string, sleep time.Duration, logBytes int) farmcheck.Submission {
	payload, _ := json.Marshal(map[string]string{"script": f.scriptLogging(sleep, logBytes)})
	j, _, err := f.Submitter.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: payload}, key)
	sub := farmcheck.Submission{Key: key, Err: err}
	var se *client.StatusError
	switch {
	case err == nil:
		sub.JobID, sub.Status = j.ID, 201
	case errors.As(err, &se):
		sub.Status, sub.Code = se.Status, se.Code()
	}
	return sub
}

// Workload is a stream of submissions.
type Workload struct {
	// Jobs to submit, Every apart (0: at once), by Concurrency submitters (4).
	Jobs        int
	Every       time.Duration
	Concurrency int
	// Sleep is how long each job runs.
	Sleep time.Duration
	// KeyPrefix makes the idempotency keys (key-<n>); every job has one.
	KeyPrefix string
	// LogBytes, when set, makes each job print that many bytes of log: over
	// farm.MaxInlineLog, its builder uploads the log to object storage
	// (through its claim's presigned URL) instead of carrying it whole.
	LogBytes int
}

// Run submits the workload and returns every submission, in order.
func (f *Farm) Run(ctx context.Context, w Workload) []farmcheck.Submission {
	if w.Concurrency == 0 {
		w.Concurrency = 4
	}
	if w.KeyPrefix == "" {
		w.KeyPrefix = "chaos"
	}
	subs := make([]farmcheck.Submission, w.Jobs)
	next := make(chan int)
	var wg sync.WaitGroup
	for range w.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				subs[i] = f.submit(ctx, fmt.Sprintf("%s-%04d", w.KeyPrefix, i), w.Sleep, w.LogBytes)
			}
		}()
	}
	for i := range w.Jobs {
		if i > 0 && w.Every > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(w.Every):
			}
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return subs
}

// Runs counts the recorded runs of each job.
func (f *Farm) Runs() (map[string]int, error) {
	entries, err := os.ReadDir(f.RunsDir)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.RunsDir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = strings.Count(string(b), "\n")
	}
	return out, nil
}

// Calm stops injecting faults: no rules, and it waits for an outage under
// way to end.
func (f *Farm) Calm(ctx context.Context) error {
	if err := f.Proxy.SetSpec(faultproxy.Spec{}); err != nil {
		return err
	}
	for f.Proxy.Down() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// WaitEnded waits until every accepted job is terminal, or until limit;
// it returns the ids still not ended. Polls that fail (faults may still be
// on) are tried again.
func (f *Farm) WaitEnded(ctx context.Context, subs []farmcheck.Submission, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	pending := map[string]bool{}
	for _, s := range subs {
		if s.Accepted() {
			pending[s.JobID] = true
		}
	}
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		for id := range pending {
			if j, err := f.Admin.GetJob(ctx, id); err == nil && j.Status.Terminal() {
				delete(pending, id)
			}
		}
		if len(pending) > 0 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	var left []string
	for id := range pending {
		left = append(left, id)
	}
	return left
}
