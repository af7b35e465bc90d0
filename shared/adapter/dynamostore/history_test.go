package dynamostore

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// A job's history is kept one string per event (a handful of values per
// item instead of six per event), reads back exactly, and items written
// with one map per event still read, also with events of both forms in
// one list (a completion appends to an old item's history).
func TestHistoryIsOneStringPerEventAndOldMapsStillRead(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	j := queuedJob("01KAWZ6F0000000000000000H1", at)
	j.Record(&farm.JobEvent{Seq: "000000000001", At: at, To: farm.StatusQueued, Actor: "submitter:x", Detail: `said "hi", then [left]`})
	started, _, err := j.Claim("b1", "tok", at.Add(time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	item := itemOf(t, started)
	list, ok := item["history"].(*types.AttributeValueMemberL)
	if !ok || len(list.Value) != len(started.History) {
		t.Fatalf("history stored as %#v", item["history"])
	}
	for i, e := range list.Value {
		if _, ok := e.(*types.AttributeValueMemberS); !ok {
			t.Fatalf("event %d stored as %T, want one string", i, e)
		}
	}
	// The first event as an item written before keeps it: a map.
	list.Value[0] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"s": &types.AttributeValueMemberS{Value: "000000000001"}, "t": &types.AttributeValueMemberS{Value: fmtTime(at)},
		"o": &types.AttributeValueMemberS{Value: "queued"}, "a": &types.AttributeValueMemberS{Value: "submitter:x"},
		"d": &types.AttributeValueMemberS{Value: `said "hi", then [left]`}}}
	_, back := recordOf(t, item)
	if !reflect.DeepEqual(back.History, started.History) {
		t.Fatalf("history read back as\n%+v\nwant\n%+v", back.History, started.History)
	}
	var bad historyRecord
	for _, av := range []types.AttributeValue{&types.AttributeValueMemberS{Value: `["1","2"]`}, &types.AttributeValueMemberS{Value: `not json`}, &types.AttributeValueMemberN{Value: "1"}} {
		if err := bad.UnmarshalDynamoDBAttributeValue(av); err == nil {
			t.Errorf("%#v read as an event", av)
		}
	}
}
