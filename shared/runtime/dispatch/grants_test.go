package dispatch_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// recordingDB notes every DynamoDB action and the table it names.
type recordingDB struct {
	*dynamodb.Client
	mu    sync.Mutex
	calls map[string]map[string]bool // table name -> actions
}

func (r *recordingDB) note(action string, tables ...*string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range tables {
		name := aws.ToString(t)
		if r.calls[name] == nil {
			r.calls[name] = map[string]bool{}
		}
		r.calls[name]["dynamodb:"+action] = true
	}
}

func (r *recordingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.note("GetItem", in.TableName)
	return r.Client.GetItem(ctx, in, o...)
}

func (r *recordingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.note("PutItem", in.TableName)
	return r.Client.PutItem(ctx, in, o...)
}

func (r *recordingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.note("DeleteItem", in.TableName)
	return r.Client.DeleteItem(ctx, in, o...)
}

func (r *recordingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	r.note("Query", in.TableName)
	return r.Client.Query(ctx, in, o...)
}

func (r *recordingDB) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	r.note("Scan", in.TableName)
	return r.Client.Scan(ctx, in, o...)
}

func (r *recordingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	for t := range in.RequestItems {
		r.note("BatchGetItem", &t)
	}
	return r.Client.BatchGetItem(ctx, in, o...)
}

func (r *recordingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			r.note("PutItem", it.Put.TableName)
		case it.Update != nil:
			r.note("UpdateItem", it.Update.TableName)
		case it.Delete != nil:
			r.note("DeleteItem", it.Delete.TableName)
		case it.ConditionCheck != nil:
			r.note("ConditionCheckItem", it.ConditionCheck.TableName)
		}
	}
	return r.Client.TransactWriteItems(ctx, in, o...)
}

// TestTableAccessIsWhatRecordsNeed handles a stream record of every kind
// the dispatcher acts on — a queued job, a waiting one, a success releasing
// dependents and creating follow-ons, a failure cascading to dependents, a
// clean-resource job's every state — against DynamoDB on the emulator, and
// checks that the actions it called on each table are exactly
// dispatch.TableAccess (what the CDK stack grants the dispatch function).
func TestTableAccessIsWhatRecordsNeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top, cfg, _ := emulatortest.Topology(t, storetest.Pools...)
	quiet := slog.New(slog.DiscardHandler)
	// The API's side sets the scene; the dispatcher's store is recorded.
	apiStore := dynamostore.New(dynamodb.NewFromConfig(cfg), top)
	api := wiring.NewServices(wiring.Deps{Store: apiStore, Blobs: memblobs.New("grants"), Pools: storetest.Pools, Logger: quiet})
	rec := &recordingDB{Client: dynamodb.NewFromConfig(cfg), calls: map[string]map[string]bool{}}
	recorded := dynamostore.New(rec, top)
	d := &dispatch.Dispatcher{Work: wiring.NewServices(wiring.Deps{Store: recorded, Doorbell: &storetest.Bell{}, Pools: storetest.Pools, Logger: quiet}).FollowUp, Logger: quiet}
	filter := dynamostore.DispatchFilter.MustCompile()
	// apply delivers the stream record of j's change from old (nil: its
	// insert) to its current state, if the mapping's filter passes it.
	apply := func(j, old *farm.Job) {
		t.Helper()
		cur, err := apiStore.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := dynamostore.JobStreamRecord(j.ID+string(cur.Status), old, cur)
		if err != nil {
			t.Fatal(err)
		}
		if pass, err := filter.MatchValue(rec); err != nil || !pass {
			return
		}
		if failed := d.Apply(ctx, dynamostore.JobChangesFromRecords([]events.DynamoDBEventRecord{rec})); len(failed) != 0 {
			t.Fatalf("record of %s (%s) failed", j.ID, cur.Status)
		}
	}
	submit := func(payload string, deps ...string) *farm.Job {
		t.Helper()
		j, _, err := api.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(payload), DependsOn: deps, RequestedBy: "submitter:t"})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	// set moves a job to status the way an API that died right after its
	// write would: no follow-up work done, the stream record the only trace.
	set := func(j *farm.Job, status farm.JobStatus) {
		t.Helper()
		cur, err := apiStore.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		next := cur.Touched()
		next.Status = status
		if status.Terminal() {
			next.Result, next.FinishedAt = string(status), farm.TimePtr(cur.CreatedAt)
		}
		if err := apiStore.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: cur, Next: next}}}); err != nil {
			t.Fatal(err)
		}
		apply(j, cur)
	}

	// A queued job and a waiting one: filtered out (their writer rang and
	// evaluated them).
	parent := submit(`{"script":"true","then":[{"type":"script","payload":{"script":"next"}}]}`)
	apply(parent, nil)
	child := submit(`{"script":"true"}`, parent.ID)
	apply(child, nil)
	// Success: the dependent is released, the follow-on created.
	set(parent, farm.StatusSucceeded)
	if got, _ := apiStore.GetJob(ctx, child.ID); got.Status != farm.StatusQueued {
		t.Fatalf("dependent is %s after its dependency succeeded", got.Status)
	}
	// Failure: the dependents fail in turn, and theirs.
	loser := submit(`{"script":"true"}`)
	mid := submit(`{"script":"true"}`, loser.ID)
	last := submit(`{"script":"true"}`, mid.ID)
	set(loser, farm.StatusFailed)
	for _, j := range []*farm.Job{mid, last} {
		if got, _ := apiStore.GetJob(ctx, j.ID); got.Status != farm.StatusFailed {
			t.Fatalf("dependent of a failed job is %s", got.Status)
		}
	}
	// A resource's clean-resource job: queued, running, failed (and
	// retried), running again and succeeded.
	if _, _, err := api.Resources.PutPool(ctx, "ppas", resources.PoolUpdate{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Resources.AddResource(ctx, "ppas", "r1", nil); err != nil {
		t.Fatal(err)
	}
	r, err := api.Resources.Acquire(ctx, storetest.Submitter("t"), "ppas", "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	released, err := api.Resources.Release(ctx, storetest.Submitter("t"), "ppas", r.Name, r.LeaseToken)
	if err != nil {
		t.Fatal(err)
	}
	clean := &farm.Job{ID: released.CleanJobID}
	apply(clean, nil)
	set(clean, farm.StatusRunning)
	set(clean, farm.StatusFailed)
	if got, _ := apiStore.GetJob(ctx, clean.ID); got.Status != farm.StatusQueued {
		t.Fatalf("a failed clean job is %s, want queued again", got.Status)
	}
	set(clean, farm.StatusRunning)
	set(clean, farm.StatusSucceeded)
	if got, _ := apiStore.GetResource(ctx, "ppas", "r1"); got.State != farm.ResourceFree {
		t.Fatalf("resource is %s after its clean job succeeded", got.State)
	}

	names := map[string]string{}
	for _, tb := range top.Tables() {
		names[tb.Name] = tb.ID
	}
	got := map[string][]string{}
	for table, actions := range rec.calls {
		got[names[table]] = slices.Sorted(maps.Keys(actions))
	}
	want := map[string][]string{}
	for id, actions := range dispatch.TableAccess {
		want[id] = slices.Sorted(slices.Values(actions))
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("the dispatcher called\n  %v\nTableAccess grants\n  %v", got, want)
	}
}
