package main

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// A stream batch is a dispatch invocation only when the dispatcher's
// filter passes one of its records: the end of a job nothing waits on is
// dropped by the mapping in AWS and invokes nothing.
func TestStreamReadsCountAsInvocationsOnlyWhenTheFilterPasses(t *testing.T) {
	t.Parallel()
	s := func(v string) streamtypes.AttributeValue { return &streamtypes.AttributeValueMemberS{Value: v} }
	record := func(from, to string, dependents bool) streamtypes.Record {
		img := func(status string) map[string]streamtypes.AttributeValue {
			m := map[string]streamtypes.AttributeValue{"id": s("01KAWZ6F0000000000000000S3"), "status": s(status), "type": s("script"), "pool": s("default")}
			if dependents {
				m["has_dependents"] = &streamtypes.AttributeValueMemberBOOL{Value: true}
			}
			return m
		}
		next := img(to)
		if to == "succeeded" || to == "failed" {
			next["just_ended"] = &streamtypes.AttributeValueMemberBOOL{Value: true} // the write that ended it
		}
		return streamtypes.Record{Dynamodb: &streamtypes.StreamRecord{SequenceNumber: new("1"), Keys: map[string]streamtypes.AttributeValue{"id": s("01KAWZ6F0000000000000000S3")}, NewImage: next}}
	}
	raw := func(string, string, any, any, error) awscalls.Usage { return awscalls.Usage{NonEmpty: 1} }
	inspect := filteredStreamReads(raw)
	for _, c := range []struct {
		name    string
		records []streamtypes.Record
		want    int64
	}{
		{"a job nothing waits on ends", []streamtypes.Record{record("queued", "running", false), record("running", "succeeded", false)}, 0},
		{"a job with dependents ends", []streamtypes.Record{record("running", "succeeded", false), record("running", "failed", true)}, 1},
	} {
		u := inspect("DynamoDB Streams", "GetRecords", &dynamodbstreams.GetRecordsInput{}, &dynamodbstreams.GetRecordsOutput{Records: c.records}, nil)
		if u.NonEmpty != c.want {
			t.Errorf("%s: non-empty %d, want %d", c.name, u.NonEmpty, c.want)
		}
	}
}
