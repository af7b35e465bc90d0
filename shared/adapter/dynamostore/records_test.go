package dynamostore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// queuedJob is a plain queued job, queued at.
func queuedJob(id string, at time.Time) *farm.Job {
	return &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: json.RawMessage(`{"script":"true"}`),
		CreatedAt: at, QueuedAt: &at, MaxAttempts: 3, TimeoutSeconds: 60, Version: 1}
}

// itemOf is job j's item as the store writes it.
func itemOf(t *testing.T, j *farm.Job) map[string]types.AttributeValue {
	t.Helper()
	item, err := attributevalue.MarshalMap(toJobRecord(j))
	if err != nil {
		t.Fatal(err)
	}
	return item
}

// recordOf is an item as the store reads it, and the job it holds.
func recordOf(t *testing.T, item map[string]types.AttributeValue) (jobRecord, *farm.Job) {
	t.Helper()
	var r jobRecord
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		t.Fatal(err)
	}
	j, err := r.job()
	if err != nil {
		t.Fatal(err)
	}
	return r, j
}

// A started job's time to start lives in its start key only (one attribute
// less in every started job's item) and reads back exactly; items written
// before, with the attribute of its own, still read.
func TestTimeToStartIsKeptInTheStartKey(t *testing.T) {
	t.Parallel()
	queued := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	started, _, err := queuedJob("01KAWZ6F0000000000000000S3", queued).Claim("b1", "tok", queued.Add(2193*time.Millisecond), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	item := itemOf(t, started)
	if _, ok := item["time_to_start_seconds"]; ok {
		t.Error("the time to start is stored twice: in the start key and an attribute of its own")
	}
	r, back := recordOf(t, item)
	if back.TimeToStartSeconds == nil || *back.TimeToStartSeconds != *started.TimeToStartSeconds || *back.TimeToStartSeconds != 2.193 {
		t.Fatalf("time to start read back as %v, want %v", back.TimeToStartSeconds, *started.TimeToStartSeconds)
	}
	old := r
	old.StartKey, old.TimeToStart = "", new(1.5)
	if back, err := old.job(); err != nil || back.TimeToStartSeconds == nil || *back.TimeToStartSeconds != 1.5 {
		t.Fatalf("an item of the old shape reads back as %v (%v)", back, err)
	}
}

// Zero numbers are not stored (a default job's priority and score, a
// queued job's attempts) and read back as 0; others are kept.
func TestZeroNumbersAreLeftOutOfAJobItem(t *testing.T) {
	t.Parallel()
	j := queuedJob("01KAWZ6F0000000000000000Z0", time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	for _, c := range []struct {
		priority, score int64
		attempts        int
	}{{0, 0, 0}, {-3, 7, 2}} {
		j.Priority, j.Score, j.Attempts = c.priority, c.score, c.attempts
		item := itemOf(t, j)
		for attr, zero := range map[string]bool{"priority": c.priority == 0, "score": c.score == 0, "attempts": c.attempts == 0} {
			if _, stored := item[attr]; stored == zero {
				t.Errorf("%+v: %s stored %v", c, attr, stored)
			}
		}
		_, back := recordOf(t, item)
		if back.Priority != c.priority || back.Score != c.score || back.Attempts != c.attempts {
			t.Errorf("%+v read back as %d, %d, %d", c, back.Priority, back.Score, back.Attempts)
		}
	}
}
