package dynamostore

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// A stream record's images in the three shapes they come in: the Lambda
// event's (aws-lambda-go), the DynamoDB Streams API's (the local runtime)
// and the table's own (decoded with the job's record type). The local
// runtime's records are turned into Lambda event records, so that one
// filter and one decoder serve both.

// jobFromImage decodes a job from a record's new (or old) image.
func jobFromImage(image map[string]events.DynamoDBAttributeValue) (*farm.Job, error) {
	item, err := itemFromLambda(image)
	if err != nil {
		return nil, err
	}
	var r jobRecord
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		return nil, err
	}
	return r.job()
}

func itemFromLambda(image map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(image))
	for k, v := range image {
		av, err := fromLambda(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func fromLambda(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		list := make([]types.AttributeValue, 0, len(v.List()))
		for _, e := range v.List() {
			av, err := fromLambda(e)
			if err != nil {
				return nil, err
			}
			list = append(list, av)
		}
		return &types.AttributeValueMemberL{Value: list}, nil
	case events.DataTypeMap:
		m, err := itemFromLambda(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %v", v.DataType())
}

func lambdaFromItem(item map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if item == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, v := range item {
		out[k] = toLambda(v)
	}
	return out
}

func toLambda(v types.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *types.AttributeValueMemberL:
		list := make([]events.DynamoDBAttributeValue, 0, len(v.Value))
		for _, e := range v.Value {
			list = append(list, toLambda(e))
		}
		return events.NewListAttribute(list)
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(lambdaFromItem(v.Value))
	}
	return events.NewNullAttribute()
}

// LambdaRecordsFromStream turns records read with the DynamoDB Streams API
// into the records a Lambda event source mapping would deliver, so that the
// local runtime filters (StreamFilter.Match) and decodes
// (JobChangesFromLambda) exactly as the dispatch function does.
func LambdaRecordsFromStream(records []streamtypes.Record) ([]events.DynamoDBEventRecord, error) {
	out := make([]events.DynamoDBEventRecord, 0, len(records))
	for _, r := range records {
		if r.Dynamodb == nil {
			continue
		}
		var images [3]map[string]types.AttributeValue
		for i, from := range []map[string]streamtypes.AttributeValue{r.Dynamodb.Keys, r.Dynamodb.NewImage, r.Dynamodb.OldImage} {
			if from == nil {
				continue
			}
			item, err := attributevalue.FromDynamoDBStreamsMap(from)
			if err != nil {
				return nil, fmt.Errorf("stream record %s: %w", aws.ToString(r.Dynamodb.SequenceNumber), err)
			}
			images[i] = item
		}
		out = append(out, events.DynamoDBEventRecord{
			EventID:     aws.ToString(r.EventID),
			EventName:   string(r.EventName),
			EventSource: aws.ToString(r.EventSource),
			Change: events.DynamoDBStreamRecord{
				Keys:           lambdaFromItem(images[0]),
				NewImage:       lambdaFromItem(images[1]),
				OldImage:       lambdaFromItem(images[2]),
				SequenceNumber: aws.ToString(r.Dynamodb.SequenceNumber),
				StreamViewType: string(r.Dynamodb.StreamViewType),
			},
		})
	}
	return out, nil
}

// JobStreamRecord is the record the jobs table's stream carries when a job
// item goes from old to next (old nil: an insert; next nil: a removal), in
// the Lambda event's shape: for tests of what a filter passes and what the
// dispatcher does with it.
func JobStreamRecord(seq string, old, next *farm.Job) (events.DynamoDBEventRecord, error) {
	rec := events.DynamoDBEventRecord{EventSource: "aws:dynamodb", EventName: "MODIFY",
		Change: events.DynamoDBStreamRecord{SequenceNumber: seq, StreamViewType: "NEW_IMAGE"}}
	var err error
	var id string
	if old != nil {
		id = old.ID
	} else {
		rec.EventName = "INSERT"
	}
	if next != nil {
		id = next.ID
		if rec.Change.NewImage, err = jobImage(old, next); err != nil {
			return rec, err
		}
	} else {
		rec.EventName = "REMOVE"
	}
	rec.Change.Keys = map[string]events.DynamoDBAttributeValue{attrID: events.NewStringAttribute(id)}
	return rec, nil
}

func jobImage(old, j *farm.Job) (map[string]events.DynamoDBAttributeValue, error) {
	rec := toJobRecord(j)
	rec.JustEnded = endsJob(old, j)
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return nil, err
	}
	return lambdaFromItem(item), nil
}
