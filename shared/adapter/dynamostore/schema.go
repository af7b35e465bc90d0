package dynamostore

import "github.com/buildfarm/buildfarm/shared/adapter/topology"

// The schema: every table's keys, indexes, TTL attribute and stream. This
// package is the only one that knows an attribute name; provisioning and
// the CDK stack declare tables from Tables.

// AttrType is a DynamoDB key attribute type.
type AttrType string

// Key attribute types.
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

// Table is a table of the topology as DynamoDB keeps it.
type Table struct {
	topology.Table
	Partition    Key
	Sort         *Key
	Indexes      []Index
	TTLAttribute string
	// Stream: the table streams new images (the dispatcher reads them; see
	// DispatchFilter).
	Stream bool
}

// Index names and index key attributes of the jobs table. Every index is
// sparse or written once per job: an entry costs a write unit whenever its
// keys or projected attributes change, so none projects what changes.
// docs/infra.md lists which query reads each.
const (
	IndexQueued = "by-pool-queue" // queue_pool, queue_rank: dispatch order per pool
	// IndexReap is the reaper's (active_shard, reap_at; see reap.go):
	// running and cancelling jobs only, with their builder, pool, type and
	// start (what builders' current jobs, the scaler, the queue's
	// estimates and the active-job listings need).
	IndexReap = "by-reap"
	// IndexCreated lists every job newest first (job_shard, id), projecting
	// the attributes a job never changes (type, pool, requested_by): the
	// listings by them filter in the index within their bounded scan. It
	// is written once, when the job is created.
	IndexCreated = "by-newest"
	// IndexWaiting lists the jobs waiting on their dependencies (sparse:
	// waiting_shard exists only while a job waits), newest first: the
	// reaper re-evaluates them and the queue summary counts them.
	IndexWaiting = "by-waiting"
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

// fixedJobAttributes are what a job never changes after its creation: the
// listing indexes project them.
var fixedJobAttributes = []string{"type", "pool", "requested_by"}

func s(name string) Key { return Key{Name: name, Type: String} }
func sk(name string) *Key {
	k := s(name)
	return &k
}

// JobIndexes are the indexes of the jobs table.
func JobIndexes() []Index {
	return []Index{
		{Name: IndexQueued, Partition: s("queue_pool"), Sort: sk("queue_rank"), Projection: ProjectAll},
		// What it projects never changes while a job is active: the index
		// is written at a claim, at an ending, and when reap_at moves.
		{Name: IndexReap, Partition: s("active_shard"), Sort: sk("reap_at"), Projection: ProjectInclude, NonKeyAttributes: []string{"builder", "pool", "type", "started_at"}},
		{Name: IndexCreated, Partition: s("job_shard"), Sort: sk("id"), Projection: ProjectInclude, NonKeyAttributes: fixedJobAttributes},
		{Name: IndexWaiting, Partition: s("waiting_shard"), Sort: sk("id"), Projection: ProjectInclude, NonKeyAttributes: fixedJobAttributes},
		{Name: IndexStarts, Partition: s("pool"), Sort: sk("start_key"), Projection: ProjectKeysOnly},
	}
}

// Tables lists every table of top with its schema.
func Tables(top *topology.Topology) []Table {
	return []Table{
		// A finished job expires (expires_at) after the farm's retention.
		{Table: top.Jobs, Partition: s("id"), Stream: true, Indexes: JobIndexes(), TTLAttribute: "expires_at"},
		{Table: top.Builders, Partition: s("name")},
		{Table: top.Tokens, Partition: s("token_hash"), TTLAttribute: "expires_at",
			Indexes: []Index{{Name: IndexTokenID, Partition: s("token_shard"), Sort: sk("id"), Projection: ProjectAll}}},
		// One item per dependency edge (job_id: the job depended on,
		// dependent_id: the job waiting for it), so that a job's dependents
		// never grow its own item.
		{Table: top.JobDependents, Partition: s("job_id"), Sort: sk("dependent_id"), TTLAttribute: "expires_at"},
		// One item per log chunk of a running job (chunk: "<run>#<offset>",
		// both zero-padded): heartbeats append, never rewrite.
		{Table: top.JobLogs, Partition: s("job_id"), Sort: sk("chunk"), TTLAttribute: "expires_at"},
		{Table: top.Idempotency, Partition: s("key"), TTLAttribute: "expires_at"},
		{Table: top.ResourcePools, Partition: s("name")},
		{Table: top.Resources, Partition: s("pool"), Sort: sk("name"),
			Indexes: []Index{{Name: IndexResourceLease, Partition: s("held_shard"), Sort: sk("lease_expires_at"), Projection: ProjectKeysOnly}}},
		// The elastic pools' scaler records and the instance identity
		// claims (key: "pool#<pool>" or "instance#<id>").
		{Table: top.Fleet, Partition: s("key"), TTLAttribute: "expires_at"},
	}
}

// Schema returns the schema of table t of top.
func Schema(top *topology.Topology, t topology.Table) (Table, bool) {
	for _, tb := range Tables(top) {
		if tb.Table == t {
			return tb, true
		}
	}
	return Table{}, false
}
