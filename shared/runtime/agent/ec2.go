package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// EC2Identity is what a builder on EC2 learns about itself from the
// instance metadata service.
type EC2Identity struct {
	InstanceID       string
	InstanceType     string
	Region           string
	AvailabilityZone string
	ImageID          string
	Architecture     string
}

// Metadata is the identity as builder registration metadata.
func (id EC2Identity) Metadata() map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{
		"instance_id": id.InstanceID, "instance_type": id.InstanceType, "region": id.Region,
		"availability_zone": id.AvailabilityZone, "image_id": id.ImageID,
	} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// EC2MetadataTimeout bounds the whole look-up: off EC2 nobody answers, and a
// builder must not hang at start waiting for that.
const EC2MetadataTimeout = 2 * time.Second

// LookupEC2Identity asks the instance metadata service (IMDSv2 only: a
// session token first, no fallback to v1) for the instance's identity
// document. endpoint "" is the standard one (or AWS_EC2_METADATA_SERVICE_ENDPOINT);
// AWS_EC2_METADATA_DISABLED=true turns the look-up off.
func LookupEC2Identity(ctx context.Context, endpoint string) (EC2Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, EC2MetadataTimeout)
	defer cancel()
	opts := imds.Options{
		Endpoint:       endpoint,
		EnableFallback: aws.FalseTernary,
		Retryer:        aws.NopRetryer{},
	}
	if endpoint != "" {
		// An endpoint named on purpose is asked even where the SDK's
		// AWS_EC2_METADATA_DISABLED turns the default one off.
		opts.ClientEnableState = imds.ClientEnabled
	}
	c := imds.New(opts)
	doc, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return EC2Identity{}, fmt.Errorf("ec2 instance metadata: %w", err)
	}
	if doc.InstanceID == "" {
		return EC2Identity{}, fmt.Errorf("ec2 instance metadata: the identity document names no instance")
	}
	return EC2Identity{
		InstanceID: doc.InstanceID, InstanceType: doc.InstanceType, Region: doc.Region,
		AvailabilityZone: doc.AvailabilityZone, ImageID: doc.ImageID, Architecture: doc.Architecture,
	}, nil
}
