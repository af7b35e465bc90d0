package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls/ddbunits"
)

// A partition key of an index that many jobs share takes at most
// PartitionWriteUnits a second, however many partitions the table has. A
// job's life is simulated through the domain's own transitions and
// written as the DynamoDB store writes it (dynamostore.JobItem), against
// the jobs table's schema (dynamostore.JobIndexes): for each index entry
// put, deleted or rewritten, the write units land on that entry's
// partition key. So the model follows the code: a new index, or a key that
// changes, shows up here without editing the model.

// Scope says who shares a partition key.
type Scope string

const (
	ScopePool      Scope = "pool"       // one pool (all its shards when sharded)
	ScopePoolShard Scope = "pool shard" // one shard of a pool's dispatch index
	ScopeStack     Scope = "stack"      // every job of the farm (a constant or a status)
	ScopeType      Scope = "job type"   // every job of one type
	ScopeSubmitter Scope = "submitter"  // every job of one submitter (one CI token: all of them)
)

// HotKey is the write load a job puts on one shared partition key of an index.
type HotKey struct {
	Index string `json:"index"`
	// Key is the partition key attribute and Value the value of the
	// simulated job's entry (a pool, a status, a constant).
	Key   string `json:"key"`
	Value string `json:"value"`
	Scope Scope  `json:"scope"`
	// WriteUnitsPerJob over a job's life (submit, claim, complete), and
	// WriteUnitsPerHeartbeat for each lease renewal while it runs.
	WriteUnitsPerJob       float64 `json:"write_units_per_job"`
	WriteUnitsPerHeartbeat float64 `json:"write_units_per_heartbeat"`
	// EntryBytes is the entry's size (an ALL index holds the whole item).
	EntryBytes int `json:"entry_bytes"`
}

// simulatedPool and simulatedSubmitter name the simulated job's pool and submitter.
const (
	simulatedPool      = "default"
	simulatedSubmitter = "submitter:ci"
	simulatedJobID     = "01KAPXW4Y0QKJ7ZTM2D5R8N3B1"
)

// lifecycle is one no-op job's states as the services write them:
// admitted (queued), claimed, one heartbeat, completed.
func lifecycle() (queued, running, renewed, done *farm.Job, err error) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	adm := admission.New(nil, farm.NewPools([]string{simulatedPool}), farm.SourcePolicy{})
	queued, err = adm.NewJob(admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true"}`), RequestedBy: simulatedSubmitter}, now)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// A fixed id: the document must not change from one run to the next
	// (the id picks the shard shown, and its length sizes the entries).
	queued.ID = simulatedJobID
	policy := farm.Policy{}.WithDefaults()
	token := farm.NewSecret(16)
	running, _, err = queued.Claim("builder-1", token, now.Add(time.Second), policy.Lease)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// Claims record the time to start with the claim (claims.publishTimeToStart).
	tts := 1.0
	running.TimeToStartSeconds = &tts
	if renewed, err = running.Renew(token, now.Add(time.Second+policy.Heartbeat), policy.Lease, "", ""); err != nil {
		return nil, nil, nil, nil, err
	}
	done, _, err = renewed.Complete("builder-1", farm.Completion{ClaimToken: token, Result: farm.StatusSucceeded}, now.Add(2*time.Second+policy.Heartbeat))
	return queued, running, renewed, done, err
}

// hotKeys simulates a job's life on a pool of `shards` shards and returns
// the load on every partition key that jobs share (entries keyed by the
// job's own id are spread over the table and left out).
func hotKeys(shards int) ([]HotKey, error) {
	queued, running, renewed, done, err := lifecycle()
	if err != nil {
		return nil, err
	}
	top, err := topology.New("capacity", []string{simulatedPool})
	if err != nil {
		return nil, err
	}
	s := dynamostore.New(nil, top).WithDispatchShards(store.UniformDispatchShards(shards, simulatedPool))
	var items []map[string]types.AttributeValue
	for _, j := range []*farm.Job{queued, running, renewed, done} {
		it, err := s.JobItem(j)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	loads := map[string]*HotKey{}
	add := func(ix dynamostore.Index, item map[string]types.AttributeValue, units float64, heartbeat bool) {
		value := attr(item, ix.Partition.Name)
		k := ix.Name + "\x00" + value
		h := loads[k]
		if h == nil {
			h = &HotKey{Index: ix.Name, Key: ix.Partition.Name, Value: value, Scope: scopeOf(value, queued), EntryBytes: entryBytes(ix, item)}
			if ix.Name == dynamostore.IndexQueued && shards > 1 {
				// Shard 0 is keyed by the pool's name alone.
				h.Scope = ScopePoolShard
			}
			loads[k] = h
		}
		if heartbeat {
			h.WriteUnitsPerHeartbeat += units
		} else {
			h.WriteUnitsPerJob += units
		}
	}
	steps := []struct {
		before, after map[string]types.AttributeValue
		heartbeat     bool
	}{{nil, items[0], false}, {items[0], items[1], false}, {items[1], items[2], true}, {items[2], items[3], false}}
	for _, ix := range dynamostore.JobIndexes() {
		for _, st := range steps {
			for _, w := range entryWrites(ix, st.before, st.after) {
				add(ix, w.item, w.units, st.heartbeat)
			}
		}
	}
	var out []HotKey
	for _, h := range loads {
		if h.Scope != "" {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(a, b HotKey) int { return strings.Compare(a.Index+a.Value, b.Index+b.Value) })
	return out, nil
}

// entryWrite is one index entry written: on the partition of item's entry.
type entryWrite struct {
	item  map[string]types.AttributeValue
	units float64
}

// entryWrites are the index entry writes of one item write, by DynamoDB's
// rules (as ddbunits counts them for the bench): an entry whose keys change
// is deleted and put; one whose keys stay is rewritten only when the index
// projects an attribute that changed (every attribute, for ALL).
func entryWrites(ix dynamostore.Index, before, after map[string]types.AttributeValue) []entryWrite {
	keys := []string{ix.Partition.Name}
	if ix.Sort != nil {
		keys = append(keys, ix.Sort.Name)
	}
	has := func(it map[string]types.AttributeValue) bool {
		for _, k := range keys {
			if it == nil || attr(it, k) == "" {
				return false
			}
		}
		return true
	}
	wu := func(it map[string]types.AttributeValue) float64 {
		return writeUnits(entryBytes(ix, it))
	}
	oldHas, newHas := has(before), has(after)
	if oldHas && newHas && sameAttrs(before, after, keys) {
		switch ix.Projection {
		case dynamostore.ProjectAll:
			if !sameItem(before, after) {
				return []entryWrite{{after, max(wu(before), wu(after))}}
			}
		case dynamostore.ProjectInclude:
			if !sameAttrs(before, after, ix.NonKeyAttributes) {
				return []entryWrite{{after, wu(after)}}
			}
		}
		return nil
	}
	var out []entryWrite
	if oldHas {
		out = append(out, entryWrite{before, wu(before)})
	}
	if newHas {
		out = append(out, entryWrite{after, wu(after)})
	}
	return out
}

// indexEntryOverhead is what DynamoDB adds to each index entry.
const indexEntryOverhead = 100

// entryBytes is the size of item's entry on ix: the whole item for ALL,
// the keys (the table's and the index's) and projected attributes otherwise.
func entryBytes(ix dynamostore.Index, item map[string]types.AttributeValue) int {
	if ix.Projection == dynamostore.ProjectAll {
		return ddbunits.ItemSize(item) + indexEntryOverhead
	}
	names := append([]string{"id", ix.Partition.Name}, ix.NonKeyAttributes...)
	if ix.Sort != nil {
		names = append(names, ix.Sort.Name)
	}
	picked := map[string]types.AttributeValue{}
	for _, n := range names {
		if v, ok := item[n]; ok {
			picked[n] = v
		}
	}
	return ddbunits.ItemSize(picked) + indexEntryOverhead
}

func writeUnits(bytes int) float64 {
	return float64(max(1, (bytes+ddbunits.WriteUnitBytes-1)/ddbunits.WriteUnitBytes))
}

// scopeOf says who shares partition value v ("" for a job's own id).
func scopeOf(v string, j *farm.Job) Scope {
	switch {
	case v == j.ID || v == "":
		return ""
	case v == j.Pool:
		return ScopePool
	case strings.HasPrefix(v, j.Pool+"#"):
		return ScopePoolShard
	case v == j.Type:
		return ScopeType
	case v == j.RequestedBy:
		return ScopeSubmitter
	}
	return ScopeStack
}

func attr(item map[string]types.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

func sameAttrs(a, b map[string]types.AttributeValue, names []string) bool {
	for _, n := range names {
		if !reflect.DeepEqual(a[n], b[n]) {
			return false
		}
	}
	return true
}

func sameItem(a, b map[string]types.AttributeValue) bool {
	return reflect.DeepEqual(a, b)
}
