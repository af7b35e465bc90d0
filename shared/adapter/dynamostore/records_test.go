package dynamostore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// A started job's time to start lives in its start key only (one attribute
// less in every started job's item) and reads back exactly; items written
// before, with the attribute of its own, still read.
func TestTimeToStartIsKeptInTheStartKey(t *testing.T) {
	t.Parallel()
	queued := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	j := &farm.Job{ID: "01KAWZ6F0000000000000000S3", Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: json.RawMessage(`{"script":"true"}`),
		CreatedAt: queued, QueuedAt: &queued, MaxAttempts: 3, TimeoutSeconds: 60, Version: 1}
	started, _, err := j.Claim("b1", "tok", queued.Add(2193*time.Millisecond), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	item, err := attributevalue.MarshalMap(toJobRecord(started))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := item["time_to_start_seconds"]; ok {
		t.Error("the time to start is stored twice: in the start key and an attribute of its own")
	}
	var r jobRecord
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		t.Fatal(err)
	}
	back, err := r.job()
	if err != nil {
		t.Fatal(err)
	}
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
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	j := &farm.Job{ID: "01KAWZ6F0000000000000000Z0", Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: json.RawMessage(`{"script":"true"}`),
		CreatedAt: at, QueuedAt: &at, MaxAttempts: 3, TimeoutSeconds: 60, Version: 1}
	for _, c := range []struct {
		priority, score int64
		attempts        int
	}{{0, 0, 0}, {-3, 7, 2}} {
		j.Priority, j.Score, j.Attempts = c.priority, c.score, c.attempts
		item, err := attributevalue.MarshalMap(toJobRecord(j))
		if err != nil {
			t.Fatal(err)
		}
		for attr, zero := range map[string]bool{"priority": c.priority == 0, "score": c.score == 0, "attempts": c.attempts == 0} {
			if _, stored := item[attr]; stored == zero {
				t.Errorf("%+v: %s stored %v", c, attr, stored)
			}
		}
		var r jobRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			t.Fatal(err)
		}
		back, err := r.job()
		if err != nil {
			t.Fatal(err)
		}
		if back.Priority != c.priority || back.Score != c.score || back.Attempts != c.attempts {
			t.Errorf("%+v read back as %d, %d, %d", c, back.Priority, back.Score, back.Attempts)
		}
	}
}
