package dynamostore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

// crashAfterFirstWrite passes one write call through and fails every
// later one, as a process that dies right after its first write would.
type crashAfterFirstWrite struct {
	dynamostore.API
	mu     sync.Mutex
	writes int
}

var errCrashed = errors.New("the process died here")

func (c *crashAfterFirstWrite) write() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.writes > 1 {
		return errCrashed
	}
	return nil
}

func (c *crashAfterFirstWrite) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := c.write(); err != nil {
		return nil, err
	}
	return c.API.PutItem(ctx, in, opts...)
}

func (c *crashAfterFirstWrite) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if err := c.write(); err != nil {
		return nil, err
	}
	return c.API.TransactWriteItems(ctx, in, opts...)
}

// A transition's state and its history event are one write: a process
// that dies after its first write of a transition leaves the job either
// as it was or changed with its event, never changed without it.
func TestStateAndHistoryAreOneWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top, cfg, _ := emulatortest.Topology(t)
	db := dynamodb.NewFromConfig(cfg)
	healthy := dynamostore.New(db, top)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	job := &farm.Job{ID: farm.NewID(now), Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: []byte(`{"script":"true"}`),
		CreatedAt: now, MaxAttempts: 3, TimeoutSeconds: 60, Version: 1}
	steps := []func(*farm.Job, time.Time) (*farm.Job, *farm.JobEvent, error){
		func(j *farm.Job, at time.Time) (*farm.Job, *farm.JobEvent, error) {
			return j, &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(1), At: at, To: farm.StatusQueued, Actor: "alice"}, nil
		},
		func(j *farm.Job, at time.Time) (*farm.Job, *farm.JobEvent, error) {
			return j.Claim("b1", "tok", at, time.Minute)
		},
		func(j *farm.Job, at time.Time) (*farm.Job, *farm.JobEvent, error) {
			return j.Complete("b1", farm.Completion{ClaimToken: "tok", Result: farm.StatusSucceeded}, at)
		},
	}
	var prev *farm.Job
	for i, step := range steps {
		at := now.Add(time.Duration(i) * time.Second)
		cur := job
		if prev != nil {
			var err error
			if cur, err = healthy.GetJob(ctx, job.ID); err != nil {
				t.Fatal(err)
			}
		}
		next, ev, err := step(cur, at)
		if err != nil {
			t.Fatal(err)
		}
		crashing := dynamostore.New(&crashAfterFirstWrite{API: db}, top)
		if err := crashing.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: prev, Next: next, Event: ev}}}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := healthy.GetJob(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := healthy.JobEvents(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != i+1 || evs[i].To != got.Status || evs[i].Seq != farm.SeqFor(got.Version) {
			t.Fatalf("step %d: the job is %s (v%d) but its history is %+v", i, got.Status, got.Version, evs)
		}
		prev = got
	}
}
