package dynamostore_test

import (
	"context"
	"slices"
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

func queuedJob(id string, score int64) *farm.Job {
	return &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Score: score,
		Payload: []byte(`{"script":"true"}`), RequestedBy: "test", CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		MaxAttempts: 3, TimeoutSeconds: 60, Version: 1}
}

// Changing a pool's width on an existing table: an unsharded pool's jobs
// are keyed by the pool's name alone (as before sharding, so an existing
// table needs no migration); widening keeps them readable; narrowing
// strands the jobs of the dropped shards unless the old width is still
// read (store.DispatchShards' two-step narrowing).
func TestChangingAPoolsWidth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top, cfg, _ := emulatortest.Topology(t)
	db := dynamodb.NewFromConfig(cfg)
	at := func(write, read int) *dynamostore.Store {
		d, err := store.NewDispatchShards(map[string]int{"default": write}, map[string]int{"default": read})
		if err != nil {
			t.Fatal(err)
		}
		return dynamostore.New(db, top).WithDispatchShards(d)
	}
	var ids []string
	write := func(s *dynamostore.Store, n int) {
		for range n {
			j := queuedJob(farm.NewID(time.Now()), int64(len(ids)))
			if err := s.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: j}}}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
	}
	queued := func(s *dynamostore.Store) int {
		got, err := s.QueuedJobs(ctx, "default", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}

	one := at(1, 1)
	write(one, 6)
	item, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(top.Jobs.Name), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: ids[0]}}})
	if err != nil {
		t.Fatal(err)
	}
	if pk, _ := item.Item["queue_pool"].(*types.AttributeValueMemberS); pk == nil || pk.Value != "default" {
		t.Fatalf("unsharded dispatch key = %v, want the pool's name as before sharding", item.Item["queue_pool"])
	}

	four := at(4, 4)
	if n := queued(four); n != 6 {
		t.Fatalf("widened to 4 shards, a claim sees %d of the 6 jobs queued before", n)
	}
	write(four, 24)
	per, err := four.QueuedPerShard(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if per[0] < 6 || slices.Min(per) == 0 {
		t.Fatalf("per shard %v: want the 6 old jobs on shard 0 and the new ones on all 4", per)
	}
	// Narrowing, step one: write 1, still read 4: nothing is missed.
	if n := queued(at(1, 4)); n != 30 {
		t.Fatalf("writing 1 and reading 4 shards sees %d of 30", n)
	}
	// Skipping step one hides the jobs of shards 1..3 (not lost: reading 4 finds them again).
	if n := queued(one); n != per[0] {
		t.Fatalf("narrowed at once, a claim sees %d jobs, want only shard 0's %d", n, per[0])
	}
}
