package dynamostore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

// A completion's one UpdateItem leaves, attribute for attribute, the item
// the PutItem of Job.Complete's image leaves — the stream's new image the
// dispatcher decides from (its filter reads status, has_dependents,
// follow_ons) and the index attributes (off the reap index, kept on the
// start index). Twin jobs, one completed each way, differ only in id.
func TestACompletionPatchLeavesThePutItemsItem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top, cfg, _ := emulatortest.Topology(t)
	db := dynamodb.NewFromConfig(cfg)
	s := dynamostore.New(db, top)
	policy := farm.Policy{JobRetention: 24 * time.Hour}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := farm.Completion{ClaimToken: "tok", Result: farm.StatusSucceeded, ExitCode: new(0), LogInline: "ok\n", LogComplete: true,
		Artifacts: []farm.Artifact{{Name: "out.tar", Bucket: "b", Key: "artifacts/x/1/out.tar", Size: 3, SHA256: "cd"}}}
	var running [2]*farm.Job
	for i, id := range []string{farm.NewID(at), farm.NewID(at.Add(time.Millisecond))} {
		j := &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: []byte(`{"script":"true"}`),
			RequestedBy: "alice", CreatedAt: at, MaxAttempts: 3, TimeoutSeconds: 600, Version: 1, HasDependents: true, DeclaresFollowOns: true,
			Artifacts: []farm.Artifact{{Name: "old", Key: "artifacts/x/0/old", Attempt: 0}}}
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: j, Event: &farm.JobEvent{JobID: id, Seq: farm.SeqFor(1), At: at, To: farm.StatusQueued, Actor: "alice"}}}}))
		claimed, ev, err := j.Claim("b1", "tok", at.Add(time.Second), time.Minute)
		must(t, err)
		must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: claimed, Event: ev}}}))
		running[i] = claimed
	}
	finish := at.Add(61500 * time.Millisecond)
	w := store.JobWriter{Store: s, Policy: policy, Clock: func() time.Time { return finish }}
	p, err := farm.CompleteAsPresumed(running[0].ID, "b1", farm.Presumed{ClaimToken: "tok", Version: running[0].Version, Run: running[0].Run}, c, finish)
	must(t, err)
	if _, err := w.Complete(ctx, s, p); err != nil {
		t.Fatal(err)
	}
	next, ev, err := running[1].Complete("b1", c, finish)
	must(t, err)
	must(t, w.Write(ctx, running[1], next, ev))

	item := func(id string) map[string]types.AttributeValue {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(top.Jobs.Name), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true)})
		must(t, err)
		return out.Item
	}
	patched, put := item(running[0].ID), item(running[1].ID)
	patched["id"] = put["id"]
	if !reflect.DeepEqual(patched, put) {
		for k := range mergeKeys(patched, put) {
			if !reflect.DeepEqual(patched[k], put[k]) {
				t.Errorf("attribute %s: patched %#v, put %#v", k, patched[k], put[k])
			}
		}
		t.Fatal("the patched item is not the put one")
	}
	for _, gone := range []string{"reap_at", "active_shard", "lease_expires_at", "duration_seconds"} {
		if _, ok := put[gone]; ok {
			t.Errorf("a finished job's item keeps %s", gone)
		}
	}
	t.Logf("completed item: %d attributes", len(put))
}

func mergeKeys(a, b map[string]types.AttributeValue) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A running job whose item has no history attribute (written before
// histories were kept in the job's item) is completed all the same: the
// patch starts the list.
func TestACompletionPatchOfAnItemWithoutHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top, cfg, _ := emulatortest.Topology(t)
	db := dynamodb.NewFromConfig(cfg)
	s := dynamostore.New(db, top)
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	j := &farm.Job{ID: farm.NewID(at), Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: []byte(`{"script":"true"}`),
		CreatedAt: at, MaxAttempts: 3, TimeoutSeconds: 600, Version: 1}
	must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: j, Event: &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(1), At: at, To: farm.StatusQueued, Actor: "a"}}}}))
	claimed, ev, err := j.Claim("b1", "tok", at.Add(time.Second), time.Minute)
	must(t, err)
	must(t, s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: j, Next: claimed, Event: ev}}}))
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(top.Jobs.Name),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: j.ID}}, UpdateExpression: aws.String("REMOVE history")})
	must(t, err)
	p, err := farm.CompleteAsPresumed(j.ID, "b1", farm.Presumed{ClaimToken: "tok", Version: claimed.Version, Run: claimed.Run},
		farm.Completion{ClaimToken: "tok", Result: farm.StatusSucceeded}, at.Add(2*time.Second))
	must(t, err)
	done, err := s.CompleteJob(ctx, p)
	must(t, err)
	if done.Status != farm.StatusSucceeded || len(done.History) != 1 || done.History[0].To != farm.StatusSucceeded {
		t.Fatalf("completed %s with history %+v", done.Status, done.History)
	}
}
