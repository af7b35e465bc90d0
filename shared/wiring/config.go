// Package wiring is the farm's one composition root: from configuration it
// builds the adapters (AWS clients, the DynamoDB store, SQS doorbells and
// lease timers, S3 blobs, EMF metrics), connects the application services
// over them, and hands each runtime what it runs — every Lambda's handler,
// the HTTP API, the whole local farm, builder agents (farm-builder and the
// local farm's own). Programs under functions/ and cmd/ only read their
// configuration and call it, so they run the same code against AWS or an
// emulator (reached through AWS_ENDPOINT_URL).
package wiring

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// Config is everything a farm process is configured with.
type Config struct {
	Topology *topology.Topology
	// Bucket overrides the topology's bucket name (CloudFormation names it in AWS).
	Bucket string
	// PresignEndpoint, when set, is the S3 endpoint the farm's presigned
	// URLs name — where its builders reach S3 — when that is not the
	// farm's own endpoint (an emulator behind another address).
	PresignEndpoint string
	// Policy is the farm's timings and limits.
	Policy farm.Policy
	// Fleet is the farm's elastic EC2 pools (none: a farm without a fleet).
	Fleet fleet.Config
	// DispatchShards is how many shards each pool's dispatch index spreads
	// its queued jobs over (FARM_DISPATCH_SHARDS; a pool not named: 1), and
	// DispatchReadShards a wider width claims still read while a pool is
	// narrowed (store.DispatchShards, shards.go).
	DispatchShards     map[string]int
	DispatchReadShards map[string]int
	// Metrics receives the services' EMF records (FromEnv: stdout, which
	// Lambda sends to CloudWatch Logs); nil publishes none.
	Metrics io.Writer
}

// Environment variables read by ConfigFromEnv.
const (
	EnvBucket              = "FARM_BUCKET"
	EnvHeartbeatSeconds    = "FARM_HEARTBEAT_SECONDS"
	EnvLeaseSeconds        = "FARM_LEASE_SECONDS"
	EnvRequeueBackoff      = "FARM_REQUEUE_BACKOFF_SECONDS"
	EnvBuilderMaxFailures  = "FARM_BUILDER_MAX_FAILURES"
	EnvJobMaxBuilderFails  = "FARM_JOB_MAX_BUILDER_FAILURES"
	EnvEventTTLDays        = "FARM_EVENT_TTL_DAYS"
	EnvJobRetentionDays    = "FARM_JOB_RETENTION_DAYS"
	EnvIdempotencyTTLHours = "FARM_IDEMPOTENCY_TTL_HOURS"
)

// ConfigFromEnv reads the farm's configuration from the environment
// (topology.FromEnv for names and pools). Unset values take defaults; a value
// that does not parse is an error, not a silent default.
func ConfigFromEnv() (Config, error) {
	top, err := topology.FromEnv()
	if err != nil {
		return Config{}, err
	}
	fl, err := fleet.FromEnv()
	if err != nil {
		return Config{}, err
	}
	c := Config{Topology: top, Fleet: fl, Bucket: os.Getenv(EnvBucket)}
	if err := c.dispatchShardsFromEnv(); err != nil {
		return Config{}, err
	}
	for _, v := range []struct {
		env  string
		unit time.Duration
		dst  *time.Duration
	}{
		{EnvHeartbeatSeconds, time.Second, &c.Policy.Heartbeat},
		{EnvLeaseSeconds, time.Second, &c.Policy.Lease},
		{EnvRequeueBackoff, time.Second, &c.Policy.RequeueBackoff},
		{EnvEventTTLDays, 24 * time.Hour, &c.Policy.EventTTL},
		{EnvJobRetentionDays, 24 * time.Hour, &c.Policy.JobRetention},
		{EnvIdempotencyTTLHours, time.Hour, &c.Policy.IdempotencyTTL},
	} {
		n, err := positive(v.env)
		if err != nil {
			return Config{}, err
		}
		*v.dst = time.Duration(n * float64(v.unit))
	}
	for _, v := range []struct {
		env string
		dst *int
	}{{EnvBuilderMaxFailures, &c.Policy.BuilderMaxFailures}, {EnvJobMaxBuilderFails, &c.Policy.JobMaxBuilderFailures}} {
		n, err := positive(v.env)
		if err != nil {
			return Config{}, err
		}
		*v.dst = int(n)
	}
	return c, nil
}

// positive reads a positive number from env (0 when unset).
func positive(env string) (float64, error) {
	s := os.Getenv(env)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive number", env, s)
	}
	return n, nil
}

// BucketName is the bucket the farm uses.
func (c Config) BucketName() string {
	if c.Bucket != "" {
		return c.Bucket
	}
	return c.Topology.Bucket.Name
}
