package dynamostore

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// historyRecord is one event of a job's history as its item keeps it: one
// string, a JSON array [seq, at, from, to, actor, detail]. A map per event
// would cost the same bytes, but every value of an item is a value each
// write, read, query page and stream record carries and each reader
// decodes one by one: a job's events are half of its item's values when
// kept as maps. Items written before keep maps (short names: s, t, f, o,
// a, d); both read back.
type historyRecord struct {
	Seq, At, From, To, Actor, Detail string
}

// legacyHistoryRecord is an event as items written before kept it.
type legacyHistoryRecord struct {
	Seq    string `dynamodbav:"s"`
	At     string `dynamodbav:"t"`
	From   string `dynamodbav:"f,omitempty"`
	To     string `dynamodbav:"o"`
	Actor  string `dynamodbav:"a"`
	Detail string `dynamodbav:"d,omitempty"`
}

func toHistoryRecord(e farm.JobEvent) historyRecord {
	return historyRecord{Seq: e.Seq, At: fmtTime(e.At), From: string(e.From), To: string(e.To), Actor: e.Actor, Detail: e.Detail}
}

func (r historyRecord) event(jobID string) (farm.JobEvent, error) {
	at, err := parseTime(r.At)
	return farm.JobEvent{JobID: jobID, Seq: r.Seq, At: at, From: farm.JobStatus(r.From), To: farm.JobStatus(r.To), Actor: r.Actor, Detail: r.Detail}, err
}

// MarshalDynamoDBAttributeValue stores the event as one string.
func (r historyRecord) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	text, err := json.Marshal([]string{r.Seq, r.At, r.From, r.To, r.Actor, r.Detail})
	if err != nil {
		return nil, err
	}
	return &types.AttributeValueMemberS{Value: string(text)}, nil
}

// UnmarshalDynamoDBAttributeValue reads the event in either form.
func (r *historyRecord) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		var fields []string
		if err := json.Unmarshal([]byte(v.Value), &fields); err != nil {
			return fmt.Errorf("history event: %w", err)
		}
		if len(fields) != 6 {
			return fmt.Errorf("history event: %d fields, want 6", len(fields))
		}
		*r = historyRecord{Seq: fields[0], At: fields[1], From: fields[2], To: fields[3], Actor: fields[4], Detail: fields[5]}
		return nil
	case *types.AttributeValueMemberM:
		var old legacyHistoryRecord
		if err := attributevalue.UnmarshalMap(v.Value, &old); err != nil {
			return fmt.Errorf("history event: %w", err)
		}
		*r = historyRecord(old)
		return nil
	default:
		return fmt.Errorf("history event: unexpected %T", av)
	}
}
