package ddbunits_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls/ddbunits"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func TestItemSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		item map[string]types.AttributeValue
		want int
	}{
		{"string", map[string]types.AttributeValue{"id": s("abc")}, 2 + 3},
		{"number", map[string]types.AttributeValue{"n": n("12345")}, 1 + 4},
		{"bool and null", map[string]types.AttributeValue{"b": &types.AttributeValueMemberBOOL{Value: true}, "z": &types.AttributeValueMemberNULL{Value: true}}, 1 + 1 + 1 + 1},
		{"list", map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ab"), s("c")}}}, 1 + 3 + (1 + 2) + (1 + 1)},
		{"map", map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("vv")}}}, 1 + 3 + 1 + 1 + 2},
		{"empty", nil, 0},
	} {
		if got := ddbunits.ItemSize(tc.item); got != tc.want {
			t.Errorf("%s: size %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestWriteUnits(t *testing.T) {
	e := ddbunits.New(ddbunits.Table{Name: "jobs", Key: []string{"id"}, Indexes: map[string][]string{
		"by-queue":  {"queue_pool", "queue_rank"},
		"by-status": {"status", "id"},
	}})
	put := func(item map[string]types.AttributeValue, err error) float64 {
		return e.Inspect("DynamoDB", "PutItem", &dynamodb.PutItemInput{TableName: aws.String("jobs"), Item: item}, &dynamodb.PutItemOutput{}, err).WriteUnits
	}
	queued := map[string]types.AttributeValue{"id": s("J1"), "status": s("queued"), "queue_pool": s("default"), "queue_rank": s("r1")}
	// New item: the base write and one entry in each index.
	if got := put(queued, nil); got != 3 {
		t.Errorf("insert: %v WRU, want 3", got)
	}
	// Claimed: the queue entry is deleted, the status entry changes key
	// (delete + put).
	running := map[string]types.AttributeValue{"id": s("J1"), "status": s("running")}
	if got := put(running, nil); got != 1+1+2 {
		t.Errorf("claim: %v WRU, want 4", got)
	}
	// Same index keys: one in-place index write.
	if got := put(running, nil); got != 1+1 {
		t.Errorf("renew: %v WRU, want 2", got)
	}
	// A refused conditional write costs the base write only.
	if got := put(queued, errors.New("ConditionalCheckFailed")); got != 1 {
		t.Errorf("refused: %v WRU, want 1", got)
	}
	// An item over 1 KB costs a unit per started KB, in the table and the index.
	big := map[string]types.AttributeValue{"id": s("J2"), "status": s("queued"), "payload": s(strings.Repeat("x", 1500))}
	if got := put(big, nil); got != 2+2 {
		t.Errorf("big: %v WRU, want 4", got)
	}
}

func TestKeysOnlyIndexesAreWrittenOnlyWhenTheirKeysChange(t *testing.T) {
	e := ddbunits.New(ddbunits.Table{Name: "jobs", Key: []string{"id"},
		Indexes:  map[string][]string{"by-status": {"status", "id"}},
		KeysOnly: map[string]bool{"by-status": true}})
	put := func(item map[string]types.AttributeValue) float64 {
		return e.Inspect("DynamoDB", "PutItem", &dynamodb.PutItemInput{TableName: aws.String("jobs"), Item: item}, &dynamodb.PutItemOutput{}, nil).WriteUnits
	}
	big := strings.Repeat("x", 1500)
	// The base item is 2 KB; the index entry holds only the keys (1 unit).
	if got := put(map[string]types.AttributeValue{"id": s("J1"), "status": s("running"), "log": s(big)}); got != 2+1 {
		t.Errorf("insert: %v WRU, want 3", got)
	}
	// A heartbeat-like rewrite that keeps the keys leaves the index alone.
	if got := put(map[string]types.AttributeValue{"id": s("J1"), "status": s("running"), "log": s(big + "more")}); got != 2 {
		t.Errorf("rewrite with the same keys: %v WRU, want 2", got)
	}
	// A status change deletes and puts a small entry.
	if got := put(map[string]types.AttributeValue{"id": s("J1"), "status": s("succeeded"), "log": s(big)}); got != 2+1+1 {
		t.Errorf("status change: %v WRU, want 4", got)
	}
	got := e.Inspect("DynamoDB", "BatchGetItem", &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"jobs": {ConsistentRead: aws.Bool(true)}}},
		&dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{"jobs": {{"id": s("a")}, {"id": s(strings.Repeat("y", 5000))}}}}, nil)
	if got.ReadUnits != 1+2 {
		t.Errorf("batch get of a small and a 5 KB item: %v RRU, want 3", got.ReadUnits)
	}
}

func TestReadUnits(t *testing.T) {
	e := ddbunits.New()
	item := map[string]types.AttributeValue{"id": s(strings.Repeat("x", 5000))}
	u := e.Inspect("DynamoDB", "GetItem", &dynamodb.GetItemInput{TableName: aws.String("t"), ConsistentRead: aws.Bool(true)}, &dynamodb.GetItemOutput{Item: item}, nil)
	if u.ReadUnits != 2 || u.ItemBytes != 5002 {
		t.Errorf("consistent 5 KB read: %+v", u)
	}
	q := e.Inspect("DynamoDB", "Query", &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String("ix")}, &dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{{"id": s("a")}, {"id": s("b")}}}, nil)
	if q.ReadUnits != 0.5 || q.Resource != "t/ix" {
		t.Errorf("eventually consistent query: %+v", q)
	}
	miss := e.Inspect("DynamoDB", "GetItem", &dynamodb.GetItemInput{TableName: aws.String("t")}, &dynamodb.GetItemOutput{}, nil)
	if miss.ReadUnits != 0.5 {
		t.Errorf("a miss still costs the minimum: %+v", miss)
	}
}

// An UpdateItem is accounted as the item it leaves: the expression applied
// to the last item written under its key, or the item returned (ALL_NEW).
func TestUpdateItemUnits(t *testing.T) {
	e := ddbunits.New(ddbunits.Table{Name: "jobs", Key: []string{"id"}, Indexes: map[string][]string{
		"by-queue": {"queue_pool", "queue_rank"},
	}, KeysOnly: map[string]bool{"by-queue": true}})
	key := map[string]types.AttributeValue{"id": s("J1")}
	update := func(expr string, names map[string]string, values map[string]types.AttributeValue, rv types.ReturnValue, out map[string]types.AttributeValue, err error) awscalls.Usage {
		return e.Inspect("DynamoDB", "UpdateItem", &dynamodb.UpdateItemInput{
			TableName: aws.String("jobs"), Key: key, UpdateExpression: aws.String(expr),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: rv,
		}, &dynamodb.UpdateItemOutput{Attributes: out}, err)
	}
	e.Inspect("DynamoDB", "PutItem", &dynamodb.PutItemInput{TableName: aws.String("jobs"), Item: map[string]types.AttributeValue{
		"id": s("J1"), "status": s("queued"), "queue_pool": s("default"), "queue_rank": s("r1"),
		"history": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("queued")}},
	}}, &dynamodb.PutItemOutput{}, nil)

	// The claim: status set, the queue keys removed (the index entry is
	// deleted), an event appended to the embedded history.
	claim := update("SET #s = :r, #h = list_append(#h, :e) REMOVE queue_pool, queue_rank",
		map[string]string{"#s": "status", "#h": "history"},
		map[string]types.AttributeValue{":r": s("running"), ":e": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("running")}}}, "", nil, nil)
	if claim.WriteUnits != 1+1 {
		t.Errorf("claim: %v WRU, want 2 (the item and the index entry deleted)", claim.WriteUnits)
	}
	// Names and values: id 2+2, status 6+7, history 7+(3 + 1+6 + 1+7).
	if claim.ItemBytes != 4+13+25 {
		t.Errorf("claim leaves a %d-byte item", claim.ItemBytes)
	}
	// A refused update costs the item's units and changes nothing.
	if u := update("SET queue_pool = :p, queue_rank = :k", nil, map[string]types.AttributeValue{":p": s("default"), ":k": s("r2")}, "", nil, errors.New("ConditionalCheckFailed")); u.WriteUnits != 1 {
		t.Errorf("refused: %v WRU, want 1", u.WriteUnits)
	}
	// Back in the queue: the index entry is put again.
	if u := update("SET queue_pool = :p, queue_rank = if_not_exists(queue_rank, :k)", nil, map[string]types.AttributeValue{":p": s("default"), ":k": s("r2")}, "", nil, nil); u.WriteUnits != 2 {
		t.Errorf("requeue: %v WRU, want 2", u.WriteUnits)
	}
	// The item returned (ALL_NEW) is what is left, whatever the expression:
	// a big item costs a unit per started KB.
	big := map[string]types.AttributeValue{"id": s("J1"), "status": s("succeeded"), "log": s(strings.Repeat("x", 2100))}
	if u := update("SET #l = :l REMOVE queue_pool, queue_rank", map[string]string{"#l": "log"}, map[string]types.AttributeValue{":l": s("...")}, types.ReturnValueAllNew, big, nil); u.WriteUnits != 3+1 {
		t.Errorf("completion with a 2 KB log: %v WRU, want 4 (3 KB item, the index entry deleted)", u.WriteUnits)
	}
	// A delete costs the old item's units and its index entries.
	if u := e.Inspect("DynamoDB", "DeleteItem", &dynamodb.DeleteItemInput{TableName: aws.String("jobs"), Key: key}, &dynamodb.DeleteItemOutput{}, nil); u.WriteUnits != 3 {
		t.Errorf("delete of a 2 KB item outside the queue: %v WRU, want 3", u.WriteUnits)
	}
}
