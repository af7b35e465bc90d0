package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls/ddbunits"
)

// floor is a job system made of raw calls, run against the same emulator
// in the same run as the farm. The minimal floor is the least one can do:
// PutItem the job, SendMessage a doorbell, a long poll already waiting
// receives it, a conditional UpdateItem claims the job (queued -> running),
// DeleteMessage; for throughput a second conditional UpdateItem completes
// the job (running -> succeeded, fenced by the claim token). The
// like-for-like floor (floorlfl.go) also does what a correct farm must. No
// API, no history, no builder records, no logs.
type floor struct {
	kind     floorKind
	db       *dynamodb.Client
	sq       *sqs.Client
	admin    aws.Config
	table    string
	queueURL string
	calls    *awscalls.Counter
	complete bool
	// workerSQS is the receivers' SQS client; proxy (like-for-like only)
	// is the counting proxy it reaches the emulator through, as the
	// farm's agents do.
	workerSQS *sqs.Client
	proxy     *awscalls.Proxy

	mu      sync.Mutex
	claimed map[string]chan time.Time
	done    chan time.Time
	failed  atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// floorKind tells the two floors apart.
type floorKind int

const (
	floorMinimal floorKind = iota
	floorLikeForLike
)

func (k floorKind) String() string {
	if k == floorLikeForLike {
		return "like-for-like"
	}
	return "minimal"
}

// startFloor creates the floor's table and queue and starts receivers
// long-polling it (as many as the farm has slots). The like-for-like floor
// always completes its jobs.
func (r *rig) startFloor(ctx context.Context, kind floorKind, name string, receivers int, complete bool, jobs int) (*floor, error) {
	return startFloor(ctx, r.aws, r.emu.URL, kind, name, receivers, complete, jobs)
}

func startFloor(ctx context.Context, awsCfg aws.Config, emulatorURL string, kind floorKind, name string, receivers int, complete bool, jobs int) (*floor, error) {
	f := &floor{kind: kind, admin: awsCfg, table: "floor-" + name + "-" + farm.NewSecret(3), complete: complete || kind == floorLikeForLike,
		claimed: map[string]chan time.Time{}, done: make(chan time.Time, jobs+16)}
	f.calls = awscalls.New()
	tbl := ddbunits.Table{Name: f.table, Key: []string{"id"}}
	if kind == floorLikeForLike {
		tbl.Indexes = map[string][]string{lflIndex: {"queue_pool", "queue_rank"}}
	}
	est := ddbunits.New(tbl)
	est.Short = func(string) string { return "floor" }
	f.calls.Inspect = est.Inspect
	cfg := awsCfg
	cfg.APIOptions = slices.Clone(awsCfg.APIOptions)
	f.calls.Attach(&cfg)
	f.db, f.sq = dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	f.workerSQS = f.sq

	if _, err := dynamodb.NewFromConfig(awsCfg).CreateTable(ctx, f.tableInput()); err != nil {
		return nil, fmt.Errorf("floor table: %w", err)
	}
	q, err := sqs.NewFromConfig(awsCfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(f.table), Attributes: map[string]string{"VisibilityTimeout": "30"}})
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("floor queue: %w", err)
	}
	f.queueURL = aws.ToString(q.QueueUrl)
	if kind == floorLikeForLike {
		// The receivers reach SQS through a counting proxy, as the farm's
		// agents do: the same hop, counted the same way.
		if f.proxy, err = awscalls.NewProxy(emulatorURL, f.calls); err != nil {
			f.stop()
			return nil, err
		}
		f.workerSQS = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(f.proxy.URL) })
	}
	rctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for i := range receivers {
		f.wg.Go(func() { f.receive(rctx, fmt.Sprintf("floor-%d", i)) })
	}
	// Let the receivers reach their long polls.
	return f, sleepCtx(ctx, 200*time.Millisecond)
}

func (f *floor) receive(ctx context.Context, worker string) {
	for ctx.Err() == nil {
		out, err := f.workerSQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &f.queueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 20})
		if err != nil {
			if ctx.Err() == nil {
				f.failed.Add(1)
				_ = sleepCtx(ctx, 100*time.Millisecond)
			}
			continue
		}
		for _, m := range out.Messages {
			if f.kind == floorLikeForLike {
				f.handleLikeForLike(ctx, worker, m.ReceiptHandle)
			} else {
				f.handle(ctx, worker, aws.ToString(m.Body), m.ReceiptHandle)
			}
		}
	}
}

func (f *floor) handle(ctx context.Context, worker, id string, receipt *string) {
	token := farm.NewSecret(8)
	claim := expression.Set(expression.Name("status"), expression.Value("running")).
		Set(expression.Name("claimed_by"), expression.Value(worker)).
		Set(expression.Name("claim_token"), expression.Value(token))
	err := f.update(ctx, id, claim, expression.Name("status").Equal(expression.Value("queued")))
	if err == nil {
		f.claimedNow(id)
	}
	f.ack(ctx, f.sq, receipt)
	if err != nil {
		f.fail(ctx)
		return
	}
	if f.complete {
		done := expression.Set(expression.Name("status"), expression.Value("succeeded"))
		if err := f.update(ctx, id, done, expression.Name("claim_token").Equal(expression.Value(token))); err != nil {
			f.fail(ctx)
			return
		}
		f.done <- time.Now()
	}
}

func (f *floor) update(ctx context.Context, id string, set expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	e, err := expression.NewBuilder().WithUpdate(set).WithCondition(cond).Build()
	if err != nil {
		return err
	}
	_, err = f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &f.table,
		Key:                       map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}},
		UpdateExpression:          e.Update(),
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	})
	return err
}

// submit writes a queued job and rings its doorbell.
func (f *floor) submit(ctx context.Context, id string) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	cond, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name("id"))).Build()
	if err != nil {
		return err
	}
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	item := map[string]ddbtypes.AttributeValue{
		"id": s(id), "status": s("queued"), "pool": s(farm.DefaultPool), "type": s(farm.TypeScript),
		"score": &ddbtypes.AttributeValueMemberN{Value: "0"}, "payload": s(`{"script":"true"}`), "created_at": s(now),
	}
	if f.kind == floorLikeForLike {
		// The sparse dispatch index's keys, present while queued.
		item["queue_pool"], item["queue_rank"] = s(farm.DefaultPool), s(lflRank(0, id))
	}
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &f.table,
		Item:                      item,
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	}); err != nil {
		return err
	}
	_, err = f.sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.queueURL, MessageBody: aws.String(id)})
	return err
}

// latencySample submits one job and returns the time from the start of its
// PutItem to the end of the UpdateItem that claimed it.
func (f *floor) latencySample(ctx context.Context) (time.Duration, error) {
	id := farm.NewID(time.Now())
	ch := make(chan time.Time, 1)
	f.mu.Lock()
	f.claimed[id] = ch
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.claimed, id)
		f.mu.Unlock()
	}()
	start := time.Now()
	if err := f.submit(ctx, id); err != nil {
		return 0, fmt.Errorf("floor submit: %w", err)
	}
	select {
	case at := <-ch:
		return at.Sub(start), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(30 * time.Second):
		return 0, errors.New("floor: no claim within 30 s")
	}
}

// throughput submits jobs from producers goroutines and returns the time
// from the first submission to the last completion.
func (f *floor) throughput(ctx context.Context, jobs, producers int) (time.Duration, error) {
	var next atomic.Int64
	errc := make(chan error, producers)
	start := time.Now()
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for next.Add(1) <= int64(jobs) {
				if err := f.submit(ctx, farm.NewID(time.Now())); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return 0, fmt.Errorf("floor submit: %w", err)
	}
	var last time.Time
	timeout := time.After(2 * time.Minute)
	for range jobs {
		select {
		case last = <-f.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timeout:
			return 0, errors.New("floor: jobs not completed within 2 minutes")
		}
	}
	return last.Sub(start), nil
}

// snapshot returns the floor's calls so far, empty polls apart.
func (f *floor) snapshot() awscalls.Calls {
	return splitReceives(f.calls.Snapshot().Map(func(k awscalls.Key) awscalls.Key {
		k.Phase = "floor"
		if strings.HasPrefix(k.Resource, "floor-") {
			k.Resource = "floor"
		}
		return k
	}))
}

// stop ends the receivers and deletes the table and queue.
func (f *floor) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	if f.proxy != nil {
		f.proxy.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _ = dynamodb.NewFromConfig(f.admin).DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &f.table})
	if f.queueURL != "" {
		_, _ = sqs.NewFromConfig(f.admin).DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &f.queueURL})
	}
}

// claimedNow tells the latency sample waiting for job id, if any, that it
// was claimed.
func (f *floor) claimedNow(id string) {
	f.mu.Lock()
	ch := f.claimed[id]
	f.mu.Unlock()
	if ch != nil {
		ch <- time.Now()
	}
}

// ack deletes the doorbell a worker received through sq.
func (f *floor) ack(ctx context.Context, sq *sqs.Client, receipt *string) {
	if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &f.queueURL, ReceiptHandle: receipt}); err != nil {
		f.fail(ctx)
	}
}

// fail counts a failed call, unless the run is ending (its context done).
func (f *floor) fail(ctx context.Context) {
	if ctx.Err() == nil {
		f.failed.Add(1)
	}
}
