// Package provision creates the farm's topology on an emulator (moto or
// LocalStack): tables with their indexes, TTL and stream, queues with their
// dead-letter queues, and the bucket with its incoming/ notification. It is
// idempotent: what exists is left as it is. On AWS the CDK stack does this.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// Result names what was provisioned.
type Result struct {
	// QueueURLs maps queue name (including DLQs) to URL.
	QueueURLs map[string]string
	// JobsStreamARN is the jobs table's stream.
	JobsStreamARN string
}

// Apply provisions every resource of top.
func Apply(ctx context.Context, cfg aws.Config, top *topology.Topology) (*Result, error) {
	ddb := dynamodb.NewFromConfig(cfg)
	res := &Result{QueueURLs: map[string]string{}}
	for _, t := range dynamostore.Tables(top) {
		arn, err := ensureTable(ctx, ddb, t)
		if err != nil {
			return nil, err
		}
		if t.Name == top.Jobs.Name {
			res.JobsStreamARN = arn
		}
	}
	sq := sqs.NewFromConfig(cfg)
	for _, q := range top.Queues() {
		if err := ensureQueue(ctx, sq, q, res.QueueURLs); err != nil {
			return nil, err
		}
	}
	if err := ensureBucket(ctx, awsconf.NewS3(cfg), sq, top, res.QueueURLs[top.IngestQueue.Name]); err != nil {
		return nil, err
	}
	return res, nil
}

func ensureTable(ctx context.Context, ddb *dynamodb.Client, t dynamostore.Table) (string, error) {
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &t.Name})
	if err == nil {
		return aws.ToString(out.Table.LatestStreamArn), nil
	}
	var nf *ddbtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return "", fmt.Errorf("provision: describe table %s: %w", t.Name, err)
	}
	attrs := map[string]ddbtypes.ScalarAttributeType{}
	addAttr := func(k dynamostore.Key) { attrs[k.Name] = ddbtypes.ScalarAttributeType(k.Type) }
	in := &dynamodb.CreateTableInput{
		TableName:   &t.Name,
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:   keySchema(t.Partition, t.Sort),
	}
	addAttr(t.Partition)
	if t.Sort != nil {
		addAttr(*t.Sort)
	}
	for _, ix := range t.Indexes {
		addAttr(ix.Partition)
		if ix.Sort != nil {
			addAttr(*ix.Sort)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema(ix.Partition, ix.Sort),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.Projection), NonKeyAttributes: ix.NonKeyAttributes},
		})
	}
	for name, typ := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(name), AttributeType: typ})
	}
	if t.Stream {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage}
	}
	created, err := ddb.CreateTable(ctx, in)
	if err != nil {
		var inUse *ddbtypes.ResourceInUseException
		if errors.As(err, &inUse) {
			return ensureTable(ctx, ddb, t)
		}
		return "", fmt.Errorf("provision: create table %s: %w", t.Name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &t.Name}, 2*60e9); err != nil {
		return "", fmt.Errorf("provision: table %s not active: %w", t.Name, err)
	}
	if t.TTLAttribute != "" {
		_, err := ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               &t.Name,
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true)},
		})
		if err != nil {
			return "", fmt.Errorf("provision: TTL on %s: %w", t.Name, err)
		}
	}
	return aws.ToString(created.TableDescription.LatestStreamArn), nil
}

func keySchema(pk dynamostore.Key, sk *dynamostore.Key) []ddbtypes.KeySchemaElement {
	ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: ddbtypes.KeyTypeHash}}
	if sk != nil {
		ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: ddbtypes.KeyTypeRange})
	}
	return ks
}

func ensureQueue(ctx context.Context, sq *sqs.Client, q topology.Queue, urls map[string]string) error {
	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(q.DLQName),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(14 * 24 * 3600)},
	})
	if err != nil {
		return fmt.Errorf("provision: create queue %s: %w", q.DLQName, err)
	}
	urls[q.DLQName] = aws.ToString(dlq.QueueUrl)
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("provision: queue %s arn: %w", q.DLQName, err)
	}
	redrive, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(q.MaxReceiveCount),
	})
	want := map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(q.VisibilityTimeoutSeconds),
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(q.RetentionSeconds),
		string(sqstypes.QueueAttributeNameRedrivePolicy):          string(redrive),
	}
	main, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.Name), Attributes: want})
	if err != nil {
		// The queue exists with other attributes: bring them in line.
		var exists *sqstypes.QueueNameExists
		if !errors.As(err, &exists) {
			return fmt.Errorf("provision: create queue %s: %w", q.Name, err)
		}
		got, gerr := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name)})
		if gerr != nil {
			return fmt.Errorf("provision: queue %s: %w", q.Name, gerr)
		}
		if _, serr := sq.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: want}); serr != nil {
			return fmt.Errorf("provision: update queue %s: %w", q.Name, serr)
		}
		urls[q.Name] = aws.ToString(got.QueueUrl)
		return nil
	}
	urls[q.Name] = aws.ToString(main.QueueUrl)
	return nil
}

func ensureBucket(ctx context.Context, s3c *s3.Client, sq *sqs.Client, top *topology.Topology, ingestURL string) error {
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(top.Bucket.Name)})
	if err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		var exists *s3types.BucketAlreadyExists
		if !errors.As(err, &owned) && !errors.As(err, &exists) {
			return fmt.Errorf("provision: create bucket %s: %w", top.Bucket.Name, err)
		}
	}
	// Versioned, as in AWS: a job's source names the version that was
	// uploaded, and its builder downloads that version.
	_, err = s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(top.Bucket.Name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return fmt.Errorf("provision: bucket versioning: %w", err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &ingestURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("provision: ingest queue arn: %w", err)
	}
	arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	cur, err := s3c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(top.Bucket.Name)})
	if err == nil {
		for _, qc := range cur.QueueConfigurations {
			if aws.ToString(qc.QueueArn) == arn {
				return nil // already wired: setting it again would send another s3:TestEvent
			}
		}
	}
	_, err = s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(top.Bucket.Name),
		NotificationConfiguration: &s3types.NotificationConfiguration{
			QueueConfigurations: []s3types.QueueConfiguration{{
				Id:       aws.String("incoming-to-ingest"),
				QueueArn: aws.String(arn),
				Events:   []s3types.Event{s3types.EventS3ObjectCreated},
				Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{
					FilterRules: []s3types.FilterRule{{Name: s3types.FilterRuleNamePrefix, Value: aws.String(top.Bucket.IncomingPrefix)}},
				}},
			}},
		},
	})
	if err != nil {
		return fmt.Errorf("provision: bucket notification: %w", err)
	}
	return nil
}

// Destroy deletes every resource of top (tests clean up with it). Missing
// resources are not an error.
func Destroy(ctx context.Context, cfg aws.Config, top *topology.Topology) error {
	var errs []error
	ddb := dynamodb.NewFromConfig(cfg)
	for _, t := range top.Tables() {
		if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t.Name)}); err != nil {
			var nf *ddbtypes.ResourceNotFoundException
			if !errors.As(err, &nf) {
				errs = append(errs, err)
			}
		}
	}
	sq := sqs.NewFromConfig(cfg)
	for _, q := range top.Queues() {
		for _, name := range []string{q.Name, q.DLQName} {
			u, err := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
			if err != nil {
				continue
			}
			if _, err := sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: u.QueueUrl}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s3c := awsconf.NewS3(cfg)
	bucket := aws.String(top.Bucket.Name)
	p := s3.NewListObjectVersionsPaginator(s3c, &s3.ListObjectVersionsInput{Bucket: bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, v := range page.Versions {
			_, _ = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: v.Key, VersionId: v.VersionId})
		}
	}
	_, _ = s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
	return errors.Join(errs...)
}
