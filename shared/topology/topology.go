// Package topology is the one definition of every table, index, queue and
// bucket of the farm. The local runtime provisions the emulator from it and
// the CDK stack declares AWS resources from it, so names, keys and indexes
// cannot drift between the two.
package topology

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// AttrType is a DynamoDB key attribute type.
type AttrType string

const (
	String AttrType = "S"
	Number AttrType = "N"
)

// Key is a key attribute.
type Key struct {
	Name string
	Type AttrType
}

// Projection is what a global secondary index copies of each item.
type Projection string

const (
	// ProjectAll copies whole items: for an index whose readers need them
	// (the dispatch index: a claim works on the queued job as read).
	ProjectAll Projection = "ALL"
	// ProjectKeysOnly copies the keys: the index is written only when its
	// own keys change, not on every write of the item (heartbeats rewrite
	// running jobs every few seconds).
	ProjectKeysOnly Projection = "KEYS_ONLY"
	// ProjectInclude copies the keys and the NonKeyAttributes. Projecting
	// only attributes that never change once written keeps the index as
	// cheap to maintain as a keys-only one, while queries can filter on
	// them without reading the items.
	ProjectInclude Projection = "INCLUDE"
)

// Index is a global secondary index.
type Index struct {
	Name       string
	Partition  Key
	Sort       *Key
	Projection Projection
	// NonKeyAttributes are the attributes an INCLUDE index copies.
	NonKeyAttributes []string
}

// Table is a DynamoDB table.
type Table struct {
	ID           string // logical id, for CDK constructs
	Name         string
	Partition    Key
	Sort         *Key
	Indexes      []Index
	TTLAttribute string
	// Stream: the table streams new and old images (the dispatcher reads them).
	Stream bool
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

	Jobs      Table
	JobEvents Table
	Builders  Table
	Tokens    Table
	// JobDependents holds one item per dependency edge (job_id: the job
	// depended on, dependent_id: the job waiting for it), so that a job's
	// dependents never grow its own item.
	JobDependents Table
	Idempotency   Table
	ResourcePools Table
	Resources     Table
	// Fleet holds the elastic pools' scaler records and the instance
	// identity claims (key: "pool#<pool>" or "instance#<id>").
	Fleet Table

	PoolQueues []Queue
	// IngestQueue receives the bucket's incoming/ notifications.
	IngestQueue Queue
	// LeaseTimerQueue carries delayed messages that wake the reaper when a lease is due.
	LeaseTimerQueue Queue
	Bucket          Bucket
}

// Index names and index key attributes of the jobs table. The queue-entry
// attributes (queue_pool, queue_rank, active_shard, deadline_at) exist only while
// a job is queued or running: the indexes over them are sparse.
const (
	IndexQueued   = "by-pool-queue" // queue_pool, queue_rank: dispatch order per pool
	IndexLease    = "by-lease"      // active_shard, lease_expires_at: the reaper's expired leases
	IndexDeadline = "by-deadline"   // active_shard, deadline_at: jobs past their own timeout
	IndexStatus   = "by-status"     // status, id
	IndexType     = "by-type"       // type, id
	IndexPool     = "by-pool"       // pool, id
	IndexCreated  = "by-created"    // job_shard, id: every job, newest first
	// IndexRequester lists a submitter's jobs newest first (requested_by, id).
	IndexRequester = "by-requester"
	// IndexStarts lists a pool's jobs by their last start (pool,
	// start_key = "<started_at>#<time to start>"): the queue's time-to-start
	// percentiles read one bounded range of it, and the figure rides in the
	// key so that the index stays keys-only.
	IndexStarts = "by-pool-start"
	// IndexResourceLease lists held resources by lease expiry (held_shard, lease_expires_at).
	IndexResourceLease = "by-lease"
	// IndexTokenID lists tokens by id (token_shard, id): listing and revoking
	// by id without a scan.
	IndexTokenID = "by-id"
)

// DefaultPrefix names the farm's resources when nothing else is configured.
const DefaultPrefix = "buildfarm"

// DefaultPools are the builder pools a farm serves when none are configured.
var DefaultPools = []string{"default", "amd64", "arm64"}

var (
	prefixPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
	poolPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
)

func s(name string) Key { return Key{Name: name, Type: String} }
func sk(name string) *Key {
	k := s(name)
	return &k
}

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
		Prefix: prefix,
		Pools:  pools,
		Jobs: Table{
			ID: "Jobs", Name: n("jobs"), Partition: s("id"), Stream: true,
			Indexes: []Index{
				{Name: IndexQueued, Partition: s("queue_pool"), Sort: sk("queue_rank"), Projection: ProjectAll},
				{Name: IndexLease, Partition: s("active_shard"), Sort: sk("lease_expires_at"), Projection: ProjectKeysOnly},
				{Name: IndexDeadline, Partition: s("active_shard"), Sort: sk("deadline_at"), Projection: ProjectKeysOnly},
				// A job's type and pool never change: listing by status or type
				// filters on them in the index, reading only the jobs that match.
				{Name: IndexStatus, Partition: s("status"), Sort: sk("id"), Projection: ProjectInclude, NonKeyAttributes: []string{"type", "pool"}},
				{Name: IndexType, Partition: s("type"), Sort: sk("id"), Projection: ProjectInclude, NonKeyAttributes: []string{"pool"}},
				{Name: IndexPool, Partition: s("pool"), Sort: sk("id"), Projection: ProjectKeysOnly},
				{Name: IndexCreated, Partition: s("job_shard"), Sort: sk("id"), Projection: ProjectKeysOnly},
				{Name: IndexRequester, Partition: s("requested_by"), Sort: sk("id"), Projection: ProjectKeysOnly},
				{Name: IndexStarts, Partition: s("pool"), Sort: sk("start_key"), Projection: ProjectKeysOnly},
			},
		},
		JobEvents: Table{ID: "JobEvents", Name: n("job-events"), Partition: s("job_id"), Sort: sk("seq"), TTLAttribute: "expires_at"},
		Builders:  Table{ID: "Builders", Name: n("builders"), Partition: s("name")},
		Tokens: Table{
			ID: "Tokens", Name: n("tokens"), Partition: s("token_hash"), TTLAttribute: "expires_at",
			Indexes: []Index{{Name: IndexTokenID, Partition: s("token_shard"), Sort: sk("id"), Projection: ProjectAll}},
		},
		JobDependents: Table{ID: "JobDependents", Name: n("job-dependents"), Partition: s("job_id"), Sort: sk("dependent_id"), TTLAttribute: "expires_at"},
		Idempotency:   Table{ID: "Idempotency", Name: n("idempotency"), Partition: s("key"), TTLAttribute: "expires_at"},
		ResourcePools: Table{ID: "ResourcePools", Name: n("resource-pools"), Partition: s("name")},
		Resources: Table{
			ID: "Resources", Name: n("resources"), Partition: s("pool"), Sort: sk("name"),
			Indexes: []Index{{Name: IndexResourceLease, Partition: s("held_shard"), Sort: sk("lease_expires_at"), Projection: ProjectKeysOnly}},
		},
		Fleet: Table{ID: "Fleet", Name: n("fleet"), Partition: s("key"), TTLAttribute: "expires_at"},
		IngestQueue: Queue{
			ID: "IngestQueue", Name: n("ingest"), DLQName: n("ingest-dlq"),
			VisibilityTimeoutSeconds: 60, MaxReceiveCount: 5, RetentionSeconds: 4 * 24 * 3600,
		},
		LeaseTimerQueue: Queue{
			ID: "LeaseTimerQueue", Name: n("lease-timers"), DLQName: n("lease-timers-dlq"),
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
	return []Table{t.Jobs, t.JobEvents, t.Builders, t.Tokens, t.JobDependents, t.Idempotency, t.ResourcePools, t.Resources, t.Fleet}
}

// Queues lists every queue (each with its DLQ).
func (t *Topology) Queues() []Queue {
	return append(slices.Clone(t.PoolQueues), t.IngestQueue, t.LeaseTimerQueue)
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
