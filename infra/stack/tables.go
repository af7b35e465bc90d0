package stack

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
)

// tables declares every table of the topology: on-demand, encrypted with the
// AWS-managed key, point-in-time recovery, TTL and stream as the topology says.
func (f *Farm) tables() {
	f.Tables = map[string]awsdynamodb.Table{}
	for _, t := range dynamostore.Tables(f.Topology) {
		props := &awsdynamodb.TableProps{
			TableName:    jsii.String(t.Name),
			PartitionKey: attr(t.Partition),
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			Encryption:   awsdynamodb.TableEncryption_AWS_MANAGED,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			RemovalPolicy: f.removal(),
		}
		if t.Sort != nil {
			props.SortKey = attr(*t.Sort)
		}
		if t.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
		}
		if t.Stream {
			props.Stream = awsdynamodb.StreamViewType_NEW_IMAGE
		}
		table := awsdynamodb.NewTable(f.Stack, jsii.String(t.ID), props)
		for _, ix := range t.Indexes {
			if t.ID == f.Topology.Jobs.ID && slices.Contains(f.Config.DeferIndexes, ix.Name) {
				continue
			}
			gsi := &awsdynamodb.GlobalSecondaryIndexProps{
				IndexName:      jsii.String(ix.Name),
				PartitionKey:   attr(ix.Partition),
				ProjectionType: projection(ix.Projection),
			}
			if len(ix.NonKeyAttributes) > 0 {
				gsi.NonKeyAttributes = jsii.Strings(ix.NonKeyAttributes...)
			}
			if ix.Sort != nil {
				gsi.SortKey = attr(*ix.Sort)
			}
			table.AddGlobalSecondaryIndex(gsi)
		}
		f.Tables[t.ID] = table
	}
}

// projection declares the index projection the topology asks for.
func projection(p dynamostore.Projection) awsdynamodb.ProjectionType {
	switch p {
	case dynamostore.ProjectKeysOnly:
		return awsdynamodb.ProjectionType_KEYS_ONLY
	case dynamostore.ProjectInclude:
		return awsdynamodb.ProjectionType_INCLUDE
	}
	return awsdynamodb.ProjectionType_ALL
}

func attr(k dynamostore.Key) *awsdynamodb.Attribute {
	typ := awsdynamodb.AttributeType_STRING
	if k.Type == dynamostore.Number {
		typ = awsdynamodb.AttributeType_NUMBER
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: typ}
}
