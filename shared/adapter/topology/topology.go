// Package topology is the one definition of the names of every table,
// queue and bucket of the farm (a table's keys and indexes are the DynamoDB
// store's: adapter/dynamostore.Tables). The local runtime provisions the
// emulator from it and the CDK stack declares AWS resources from it, so
// names cannot drift between the two.
package topology

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Table is a DynamoDB table: its logical id (for CDK constructs) and its
// name. Its keys, indexes, TTL attribute and stream are the store's
// (adapter/dynamostore.Tables), which alone knows attribute names.
type Table struct {
	ID   string
	Name string
}

// Queue is an SQS queue with its dead-letter queue.
type Queue struct {
	ID                       string
	Name                     string
	DLQName                  string
	Pool                     string // set for a pool's doorbell queue
	VisibilityTimeoutSeconds int
	MaxReceiveCount          int
	RetentionSeconds         int
}

// Bucket is the S3 bucket for uploads, artifacts and logs.
type Bucket struct {
	ID              string
	Name            string
	IncomingPrefix  string
	ArtifactsPrefix string
	LogsPrefix      string
}

// Topology is the whole farm's storage and messaging.
type Topology struct {
	Prefix string
	Pools  []string

	// Jobs keeps each job with its history (embedded in its item).
	Jobs     Table
	Builders Table
	Tokens   Table
	// JobDependents holds one item per dependency edge (job_id: the job
	// depended on, dependent_id: the job waiting for it), so that a job's
	// dependents never grow its own item.
	JobDependents Table
	// JobLogs holds the log chunks heartbeats append (job_id, chunk: run
	// and offset), each with a TTL: the live log of a running job.
	JobLogs       Table
	Idempotency   Table
	ResourcePools Table
	Resources     Table
	// Fleet holds the elastic pools' scaler records and the instance
	// identity claims (key: "pool#<pool>" or "instance#<id>").
	Fleet Table

	PoolQueues []Queue
	// IngestQueue receives the bucket's incoming/ notifications.
	IngestQueue Queue
	Bucket      Bucket
}

// DefaultPrefix names the farm's resources when nothing else is configured.
const DefaultPrefix = "buildfarm"

// DefaultPools are the builder pools a farm serves when none are configured.
var DefaultPools = []string{"default", "amd64", "arm64"}

var (
	prefixPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
	poolPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
)

// New returns the topology for a farm whose resource names start with prefix
// and which serves the given builder pools.
func New(prefix string, pools []string) (*Topology, error) {
	if !prefixPattern.MatchString(prefix) {
		return nil, fmt.Errorf("topology: prefix %q must be 1-31 characters of a-z, 0-9 and '-'", prefix)
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("topology: at least one pool is required")
	}
	pools = slices.Clone(pools)
	slices.Sort(pools)
	pools = slices.Compact(pools)
	for _, p := range pools {
		if !poolPattern.MatchString(p) {
			return nil, fmt.Errorf("topology: pool %q must be 1-40 characters of a-z, 0-9, '-' and '_'", p)
		}
	}
	n := func(s string) string { return prefix + "-" + s }
	t := &Topology{
		Prefix:        prefix,
		Pools:         pools,
		Jobs:          Table{ID: "Jobs", Name: n("jobs")},
		Builders:      Table{ID: "Builders", Name: n("builders")},
		Tokens:        Table{ID: "Tokens", Name: n("tokens")},
		JobDependents: Table{ID: "JobDependents", Name: n("job-dependents")},
		JobLogs:       Table{ID: "JobLogs", Name: n("job-logs")},
		Idempotency:   Table{ID: "Idempotency", Name: n("idempotency")},
		ResourcePools: Table{ID: "ResourcePools", Name: n("resource-pools")},
		Resources:     Table{ID: "Resources", Name: n("resources")},
		Fleet:         Table{ID: "Fleet", Name: n("fleet")},
		IngestQueue: Queue{
			ID: "IngestQueue", Name: n("ingest"), DLQName: n("ingest-dlq"),
			VisibilityTimeoutSeconds: 60, MaxReceiveCount: 5, RetentionSeconds: 4 * 24 * 3600,
		},
		Bucket: Bucket{ID: "Bucket", Name: n("artifacts"), IncomingPrefix: "incoming/", ArtifactsPrefix: "artifacts/", LogsPrefix: "logs/"},
	}
	for _, p := range pools {
		t.PoolQueues = append(t.PoolQueues, Queue{
			ID:   "PoolQueue" + logicalSuffix(p),
			Name: n("pool-" + p), DLQName: n("pool-" + p + "-dlq"), Pool: p,
			// A doorbell is handled in seconds (claim through the API, then delete);
			// a builder that dies holding one frees it after this.
			VisibilityTimeoutSeconds: 30, MaxReceiveCount: 5, RetentionSeconds: 4 * 24 * 3600,
		})
	}
	return t, nil
}

// LogicalSuffix is a pool's name as a CDK logical id part ("gpu-large" -> "GpuLarge").
func LogicalSuffix(pool string) string { return logicalSuffix(pool) }

func logicalSuffix(pool string) string {
	var b strings.Builder
	up := true
	for _, r := range pool {
		if r == '-' || r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// Tables lists every table.
func (t *Topology) Tables() []Table {
	return []Table{t.Jobs, t.Builders, t.Tokens, t.JobDependents, t.JobLogs, t.Idempotency, t.ResourcePools, t.Resources, t.Fleet}
}

// Queues lists every queue (each with its DLQ).
func (t *Topology) Queues() []Queue {
	return append(slices.Clone(t.PoolQueues), t.IngestQueue)
}

// PoolQueue returns the doorbell queue of pool.
func (t *Topology) PoolQueue(pool string) (Queue, bool) {
	for _, q := range t.PoolQueues {
		if q.Pool == pool {
			return q, true
		}
	}
	return Queue{}, false
}

// ServesPool reports whether the farm has a queue for pool.
func (t *Topology) ServesPool(pool string) bool {
	_, ok := t.PoolQueue(pool)
	return ok
}

// Environment variables that select a topology.
const (
	EnvPrefix = "FARM_PREFIX"
	EnvPools  = "FARM_POOLS_CONFIG"
)

// FromEnv builds the topology named by FARM_PREFIX and FARM_POOLS_CONFIG
// (comma-separated), with defaults for what is unset.
func FromEnv() (*Topology, error) {
	prefix := os.Getenv(EnvPrefix)
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return New(prefix, ParsePools(os.Getenv(EnvPools)))
}

// ParsePools splits a comma-separated pool list; empty gives DefaultPools.
func ParsePools(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return slices.Clone(DefaultPools)
	}
	return out
}
