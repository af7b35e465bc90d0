package dynamostore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Items are stored through these records, so the domain carries no storage
// tags. Times are fixed-width UTC strings (millisecond precision), which sort
// as text: index sort keys compare correctly.

const timeLayout = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtTime(*t)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(timeLayout, s)
}

func parseTimePtr(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Constant partition keys of the sparse indexes.
const (
	activeShard = "active" // jobs that hold a lease
	jobShard    = "job"    // every job, for listing newest first
	waitShard   = "wait"   // jobs waiting on their dependencies
	heldShard   = "held"   // resources in use
	tokenShard  = "token"  // every token, for listing by id
)

// queueRank orders a pool's queue as text: highest score first, then the
// oldest id. The score's sign bit is flipped (order-preserving int64 ->
// uint64) and the result inverted (descending), zero-padded to 20 digits.
func queueRank(score int64, id string) string {
	return fmt.Sprintf("%020d#%s", ^(uint64(score) ^ (1 << 63)), id)
}

// jobRecord is a job's item. Zero numbers are left out (most jobs have
// priority and score 0, and a queued job no attempts): every value of an
// item is carried and decoded one by one by each write, query page and
// stream record, and read back as 0.
type jobRecord struct {
	ID          string `dynamodbav:"id"`
	Type        string `dynamodbav:"type"`
	Status      string `dynamodbav:"status"`
	Pool        string `dynamodbav:"pool"`
	Score       int64  `dynamodbav:"score,omitempty"`
	ScorePinned bool   `dynamodbav:"score_pinned,omitempty"`
	Priority    int64  `dynamodbav:"priority,omitempty"`
	Payload     string `dynamodbav:"payload"`
	RequestedBy string `dynamodbav:"requested_by,omitempty"`
	CreatedAt   string `dynamodbav:"created_at"`
	QueuedAt    string `dynamodbav:"queued_at,omitempty"`
	StartedAt   string `dynamodbav:"started_at,omitempty"`
	FinishedAt  string `dynamodbav:"finished_at,omitempty"`
	Attempts    int    `dynamodbav:"attempts,omitempty"`
	Run         int    `dynamodbav:"run,omitempty"`
	// TimeToStart is read from items written before the start key carried
	// it (see job); it is no longer written.
	TimeToStart      *float64         `dynamodbav:"time_to_start_seconds,omitempty"`
	MaxAttempts      int              `dynamodbav:"max_attempts"`
	TimeoutSeconds   int              `dynamodbav:"timeout_seconds"`
	NotBefore        string           `dynamodbav:"not_before,omitempty"`
	Builder          string           `dynamodbav:"builder,omitempty"`
	ClaimToken       string           `dynamodbav:"claim_token,omitempty"`
	LeaseExpiresAt   string           `dynamodbav:"lease_expires_at,omitempty"`
	Result           string           `dynamodbav:"result,omitempty"`
	ExitCode         *int             `dynamodbav:"exit_code,omitempty"`
	Error            string           `dynamodbav:"error,omitempty"`
	Artifacts        []artifactRecord `dynamodbav:"artifacts,omitempty"`
	LogKey           string           `dynamodbav:"log_key,omitempty"`
	LogTail          string           `dynamodbav:"log_tail,omitempty"`
	LogInline        string           `dynamodbav:"log_inline,omitempty"`
	LogComplete      bool             `dynamodbav:"log_complete,omitempty"`
	Progress         string           `dynamodbav:"progress,omitempty"`
	BuilderFailures  int              `dynamodbav:"builder_failures,omitempty"`
	ParentID         string           `dynamodbav:"parent_id,omitempty"`
	DependsOn        []string         `dynamodbav:"depends_on,omitempty"`
	IdempotencyKey   string           `dynamodbav:"idempotency_key,omitempty"`
	FollowOnsCreated bool             `dynamodbav:"follow_ons_created,omitempty"`
	FollowOns        bool             `dynamodbav:"follow_ons,omitempty"`
	HasDependents    bool             `dynamodbav:"has_dependents,omitempty"`
	// JustEnded marks the write that ended the job (see endsJob): the
	// stream carries new images only, and the dispatcher's filter passes
	// the end of a job with dependents, not a later rewrite of an ended job.
	JustEnded       bool  `dynamodbav:"just_ended,omitempty"`
	CancelRequested bool  `dynamodbav:"cancel_requested,omitempty"`
	Version         int64 `dynamodbav:"version"`
	// History is the job's history in the job's own item (one write with
	// the state it records), in short attribute names: it is most of what
	// a job's item grows by.
	History []historyRecord `dynamodbav:"history,omitempty"`
	// ExpiresAt is the TTL attribute (epoch seconds) of a finished job.
	ExpiresAt int64 `dynamodbav:"expires_at,omitempty"`

	// The queue entry: present only while the job is queued (dispatch
	// index) or holds a lease (reap index), so those indexes are sparse.
	QueuePool   string `dynamodbav:"queue_pool,omitempty"`
	QueueRank   string `dynamodbav:"queue_rank,omitempty"`
	ActiveShard string `dynamodbav:"active_shard,omitempty"`
	ReapAt      string `dynamodbav:"reap_at,omitempty"`
	JobShard    string `dynamodbav:"job_shard"`
	// WaitingShard puts a job waiting on its dependencies on the waiting index.
	WaitingShard string `dynamodbav:"waiting_shard,omitempty"`
	// StartKey puts a started job on the start index of its pool (see startKey).
	StartKey string `dynamodbav:"start_key,omitempty"`
}

// startKey orders a pool's started jobs by start time and carries the
// job's time to start, so that the start index can stay keys-only.
func startKey(startedAt time.Time, timeToStart float64) string {
	return fmtTime(startedAt) + "#" + strconv.FormatFloat(timeToStart, 'f', 3, 64)
}

// timeToStartOf reads the time to start back from a start key.
func timeToStartOf(key string) (float64, error) {
	_, figure, ok := strings.Cut(key, "#")
	if !ok {
		return 0, fmt.Errorf("start key %q has no time to start", key)
	}
	return strconv.ParseFloat(figure, 64)
}

type artifactRecord struct {
	Name      string `dynamodbav:"name"`
	Bucket    string `dynamodbav:"bucket,omitempty"`
	Key       string `dynamodbav:"key"`
	Size      int64  `dynamodbav:"size"`
	SHA256    string `dynamodbav:"sha256,omitempty"`
	Attempt   int    `dynamodbav:"attempt,omitempty"`
	VersionID string `dynamodbav:"version_id,omitempty"`
}

func toJobRecord(j *farm.Job) jobRecord {
	r := jobRecord{
		ID: j.ID, Type: j.Type, Status: string(j.Status), Pool: j.Pool, Score: j.Score, ScorePinned: j.ScorePinned,
		Priority: j.Priority, Payload: string(j.Payload), RequestedBy: j.RequestedBy, CreatedAt: fmtTime(j.CreatedAt),
		QueuedAt: fmtTimePtr(j.QueuedAt), StartedAt: fmtTimePtr(j.StartedAt), FinishedAt: fmtTimePtr(j.FinishedAt),
		Attempts: j.Attempts, Run: j.Run,
		MaxAttempts: j.MaxAttempts, TimeoutSeconds: j.TimeoutSeconds, NotBefore: fmtTimePtr(j.NotBefore), Builder: j.Builder, ClaimToken: j.ClaimToken, LeaseExpiresAt: fmtTimePtr(j.LeaseExpiresAt),
		Result: j.Result, ExitCode: j.ExitCode, Error: j.Error, LogKey: j.LogKey, LogTail: j.LogTail, LogInline: j.LogInline, LogComplete: j.LogComplete, Progress: j.Progress,
		BuilderFailures: j.BuilderFailures, ParentID: j.ParentID, DependsOn: j.DependsOn,
		IdempotencyKey: j.IdempotencyKey, FollowOnsCreated: j.FollowOnsCreated, CancelRequested: j.CancelRequested,
		Version: j.Version, JobShard: jobShard, FollowOns: j.DeclaresFollowOns, HasDependents: j.HasDependents,
	}
	for _, a := range j.Artifacts {
		r.Artifacts = append(r.Artifacts, artifactRecord(a))
	}
	for _, e := range j.History {
		r.History = append(r.History, toHistoryRecord(e))
	}
	if j.ExpiresAt != nil {
		r.ExpiresAt = j.ExpiresAt.Unix()
	}
	if j.Status == farm.StatusQueued {
		r.QueuePool, r.QueueRank = j.Pool, queueRank(j.Score, j.ID)
	}
	if j.Status == farm.StatusWaiting {
		r.WaitingShard = waitShard
	}
	if j.StartedAt != nil && j.TimeToStartSeconds != nil {
		// The start key carries the time to start: no attribute of its own.
		r.StartKey = startKey(*j.StartedAt, *j.TimeToStartSeconds)
	} else if j.TimeToStartSeconds != nil {
		r.TimeToStart = j.TimeToStartSeconds
	}
	if j.Status.Active() {
		r.ActiveShard, r.ReapAt = activeShard, reapAtOf(j)
	}
	return r
}

func (r jobRecord) job() (*farm.Job, error) {
	j := &farm.Job{
		ID: r.ID, Type: r.Type, Status: farm.JobStatus(r.Status), Pool: r.Pool, Score: r.Score, ScorePinned: r.ScorePinned,
		Priority: r.Priority, Payload: json.RawMessage(r.Payload), RequestedBy: r.RequestedBy,
		Attempts: r.Attempts, Run: r.Run, TimeToStartSeconds: r.TimeToStart,
		MaxAttempts: r.MaxAttempts, TimeoutSeconds: r.TimeoutSeconds, Builder: r.Builder, ClaimToken: r.ClaimToken, Result: r.Result, ExitCode: r.ExitCode, Error: r.Error,
		LogKey: r.LogKey, LogTail: r.LogTail, LogInline: r.LogInline, LogComplete: r.LogComplete, Progress: r.Progress, BuilderFailures: r.BuilderFailures, ParentID: r.ParentID,
		DependsOn: nilIfEmpty(r.DependsOn), IdempotencyKey: r.IdempotencyKey,
		FollowOnsCreated: r.FollowOnsCreated, CancelRequested: r.CancelRequested, Version: r.Version,
		DeclaresFollowOns: r.FollowOns, HasDependents: r.HasDependents,
	}
	for _, a := range r.Artifacts {
		j.Artifacts = append(j.Artifacts, farm.Artifact(a))
	}
	for _, h := range r.History {
		e, err := h.event(r.ID)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", r.ID, err)
		}
		j.History = append(j.History, e)
	}
	if r.ExpiresAt != 0 {
		j.ExpiresAt = farm.TimePtr(time.Unix(r.ExpiresAt, 0))
	}
	if r.StartKey != "" && j.TimeToStartSeconds == nil {
		tts, err := timeToStartOf(r.StartKey)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", r.ID, err)
		}
		j.TimeToStartSeconds = &tts
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&j.CreatedAt, r.CreatedAt}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		dst **time.Time
		src string
	}{{&j.QueuedAt, r.QueuedAt}, {&j.StartedAt, r.StartedAt}, {&j.FinishedAt, r.FinishedAt}, {&j.NotBefore, r.NotBefore}, {&j.LeaseExpiresAt, r.LeaseExpiresAt}, {&j.ReapAt, r.ReapAt}} {
		if *f.dst, err = parseTimePtr(f.src); err != nil {
			return nil, fmt.Errorf("job %s: %w", r.ID, err)
		}
	}
	// Not stored: it follows from the run's start and end (items written
	// before keep a duration_seconds attribute that says the same).
	j.DurationSeconds = farm.Duration(j.StartedAt, j.FinishedAt)
	return j, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type idempotencyRecord struct {
	Key         string `dynamodbav:"key"`
	Status      string `dynamodbav:"status"`
	RequestHash string `dynamodbav:"request_hash"`
	JobID       string `dynamodbav:"job_id"`
	CreatedAt   string `dynamodbav:"created_at"`
	// ExpiresAt is the TTL attribute (epoch seconds); Expires keeps the exact time.
	ExpiresAt int64  `dynamodbav:"expires_at"`
	Expires   string `dynamodbav:"expires"`
}

func toIdempotencyRecord(i *farm.Idempotency) idempotencyRecord {
	return idempotencyRecord{Key: i.Key, Status: i.Status, RequestHash: i.RequestHash, JobID: i.JobID, CreatedAt: fmtTime(i.CreatedAt), ExpiresAt: i.ExpiresAt.Unix(), Expires: fmtTime(i.ExpiresAt)}
}

func (r idempotencyRecord) idempotency() (*farm.Idempotency, error) {
	created, err := parseTime(r.CreatedAt)
	if err != nil {
		return nil, err
	}
	expires, err := parseTime(r.Expires)
	if err != nil {
		return nil, err
	}
	return &farm.Idempotency{Key: r.Key, Status: r.Status, RequestHash: r.RequestHash, JobID: r.JobID, CreatedAt: created, ExpiresAt: expires}, nil
}

type builderRecord struct {
	Name                string            `dynamodbav:"name"`
	Kind                string            `dynamodbav:"kind"`
	Arch                string            `dynamodbav:"arch"`
	Pools               []string          `dynamodbav:"pools"`
	Capabilities        []string          `dynamodbav:"capabilities,omitempty"`
	Slots               int               `dynamodbav:"slots"`
	Metadata            map[string]string `dynamodbav:"metadata,omitempty"`
	State               string            `dynamodbav:"state"`
	CleanStatus         string            `dynamodbav:"clean_status,omitempty"`
	Draining            bool              `dynamodbav:"draining,omitempty"`
	DrainRequested      bool              `dynamodbav:"drain_requested,omitempty"`
	DrainReason         string            `dynamodbav:"drain_reason,omitempty"`
	DrainRequestedAt    string            `dynamodbav:"drain_requested_at,omitempty"`
	LastHeartbeat       string            `dynamodbav:"last_heartbeat,omitempty"`
	CurrentJobs         []string          `dynamodbav:"current_jobs,omitempty"`
	ConsecutiveFailures int               `dynamodbav:"consecutive_failures"`
	TotalFailures       int               `dynamodbav:"total_failures"`
	JobsCompleted       int               `dynamodbav:"jobs_completed"`
	Disabled            bool              `dynamodbav:"disabled,omitempty"`
	DisabledReason      string            `dynamodbav:"disabled_reason,omitempty"`
	BootID              string            `dynamodbav:"boot_id,omitempty"`
	RegisteredAt        string            `dynamodbav:"registered_at"`
	UpdatedAt           string            `dynamodbav:"updated_at"`
	Version             int64             `dynamodbav:"version"`
}

func toBuilderRecord(b *farm.Builder) builderRecord {
	return builderRecord{
		Name: b.Name, Kind: string(b.Kind), Arch: b.Arch, Pools: b.Pools, Capabilities: b.Capabilities, Slots: b.Slots,
		Metadata: b.Metadata, State: string(b.State), CleanStatus: string(b.CleanStatus), Draining: b.Draining,
		LastHeartbeat: fmtTimePtr(b.LastHeartbeat), CurrentJobs: b.CurrentJobs, ConsecutiveFailures: b.ConsecutiveFailures,
		TotalFailures: b.TotalFailures, JobsCompleted: b.JobsCompleted, Disabled: b.Disabled, DisabledReason: b.DisabledReason,
		RegisteredAt: fmtTime(b.RegisteredAt), UpdatedAt: fmtTime(b.UpdatedAt), Version: b.Version,
		DrainRequested: b.DrainRequested, DrainReason: b.DrainReason, DrainRequestedAt: fmtTimePtr(b.DrainRequestedAt),
		BootID: b.BootID,
	}
}

func (r builderRecord) builder() (*farm.Builder, error) {
	b := &farm.Builder{
		Name: r.Name, Kind: farm.BuilderKind(r.Kind), Arch: r.Arch, Pools: emptyIfNil(r.Pools), Capabilities: emptyIfNil(r.Capabilities),
		Slots: r.Slots, Metadata: r.Metadata, State: farm.BuilderState(r.State), CleanStatus: farm.CleanStatus(r.CleanStatus),
		Draining: r.Draining, CurrentJobs: emptyIfNil(r.CurrentJobs), ConsecutiveFailures: r.ConsecutiveFailures,
		TotalFailures: r.TotalFailures, JobsCompleted: r.JobsCompleted, Disabled: r.Disabled, DisabledReason: r.DisabledReason,
		Version: r.Version, DrainRequested: r.DrainRequested, DrainReason: r.DrainReason, BootID: r.BootID,
	}
	var err error
	if b.DrainRequestedAt, err = parseTimePtr(r.DrainRequestedAt); err != nil {
		return nil, err
	}
	if b.LastHeartbeat, err = parseTimePtr(r.LastHeartbeat); err != nil {
		return nil, err
	}
	if b.RegisteredAt, err = parseTime(r.RegisteredAt); err != nil {
		return nil, err
	}
	if b.UpdatedAt, err = parseTime(r.UpdatedAt); err != nil {
		return nil, err
	}
	return b, nil
}

type tokenRecord struct {
	Hash      string   `dynamodbav:"token_hash"`
	ID        string   `dynamodbav:"id"`
	Role      string   `dynamodbav:"role"`
	Builder   string   `dynamodbav:"builder,omitempty"`
	Pools     []string `dynamodbav:"pools,omitempty"`
	Name      string   `dynamodbav:"name,omitempty"`
	CreatedBy string   `dynamodbav:"created_by,omitempty"`
	CreatedAt string   `dynamodbav:"created_at"`
	// ExpiresAt is the TTL attribute (epoch seconds; DynamoDB deletes the
	// item some time after); Expires keeps the exact time auth checks.
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"`
	Expires   string `dynamodbav:"expires,omitempty"`
	// TokenShard puts every token on the by-id index (listing, revoking by id).
	TokenShard string `dynamodbav:"token_shard"`
}

func toTokenRecord(t *farm.Token) tokenRecord {
	r := tokenRecord{Hash: t.Hash, ID: t.ID, Role: string(t.Role), Builder: t.Builder, Pools: t.Pools, Name: t.Name, CreatedBy: t.CreatedBy,
		CreatedAt: fmtTime(t.CreatedAt), Expires: fmtTimePtr(t.ExpiresAt), TokenShard: tokenShard}
	if t.ExpiresAt != nil {
		// DynamoDB's TTL deletes the item within days of this; auth refuses
		// the token from Expires on.
		r.ExpiresAt = t.ExpiresAt.Unix() + 1
	}
	return r
}

func (r tokenRecord) token() (*farm.Token, error) {
	created, err := parseTime(r.CreatedAt)
	if err != nil {
		return nil, err
	}
	t := &farm.Token{Hash: r.Hash, ID: r.ID, Role: farm.Role(r.Role), Builder: r.Builder, Pools: nilIfEmpty(r.Pools), Name: r.Name, CreatedBy: r.CreatedBy, CreatedAt: created}
	t.ExpiresAt, err = parseTimePtr(r.Expires)
	return t, err
}

// dependentRecord is one dependency edge: DependentID waits for JobID.
type dependentRecord struct {
	JobID       string `dynamodbav:"job_id"`
	DependentID string `dynamodbav:"dependent_id"`
	ExpiresAt   int64  `dynamodbav:"expires_at,omitempty"` // TTL, epoch seconds
}

// tallyKey is the sort key of a job's dependent tally in the dependents
// table: it sorts before every job id, and Dependents skips it.
const tallyKey = "#tally"

// tallyRecord counts a job's dependents (store.DependentTally).
type tallyRecord struct {
	JobID     string `dynamodbav:"job_id"`
	Key       string `dynamodbav:"dependent_id"`
	Count     int    `dynamodbav:"count"`
	Version   int64  `dynamodbav:"version"`
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"` // TTL, epoch seconds
}

func toTallyRecord(t *store.DependentTally) tallyRecord {
	r := tallyRecord{JobID: t.JobID, Key: tallyKey, Count: t.Count, Version: t.Version}
	if !t.ExpiresAt.IsZero() {
		r.ExpiresAt = t.ExpiresAt.Unix()
	}
	return r
}

func (r tallyRecord) tally() *store.DependentTally {
	t := &store.DependentTally{JobID: r.JobID, Count: r.Count, Version: r.Version}
	if r.ExpiresAt != 0 {
		t.ExpiresAt = time.Unix(r.ExpiresAt, 0).UTC()
	}
	return t
}

func toDependentRecord(d store.DependentEdge) dependentRecord {
	r := dependentRecord{JobID: d.JobID, DependentID: d.DependentID}
	if !d.ExpiresAt.IsZero() {
		r.ExpiresAt = d.ExpiresAt.Unix()
	}
	return r
}

type poolRecord struct {
	Name         string `dynamodbav:"name"`
	Description  string `dynamodbav:"description,omitempty"`
	LeaseSeconds int    `dynamodbav:"lease_seconds"`
	CleanScript  string `dynamodbav:"clean_script,omitempty"`
	CreatedAt    string `dynamodbav:"created_at"`
	UpdatedAt    string `dynamodbav:"updated_at"`
	Version      int64  `dynamodbav:"version"`
}

func toPoolRecord(p *farm.ResourcePool) poolRecord {
	return poolRecord{Name: p.Name, Description: p.Description, LeaseSeconds: p.LeaseSeconds, CleanScript: p.CleanScript, CreatedAt: fmtTime(p.CreatedAt), UpdatedAt: fmtTime(p.UpdatedAt), Version: p.Version}
}

func (r poolRecord) pool() (*farm.ResourcePool, error) {
	p := &farm.ResourcePool{Name: r.Name, Description: r.Description, LeaseSeconds: r.LeaseSeconds, CleanScript: r.CleanScript, Version: r.Version}
	var err error
	if p.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
		return nil, err
	}
	p.UpdatedAt, err = parseTime(r.UpdatedAt)
	return p, err
}

type resourceRecord struct {
	Pool           string            `dynamodbav:"pool"`
	Name           string            `dynamodbav:"name"`
	Attributes     map[string]string `dynamodbav:"attributes,omitempty"`
	State          string            `dynamodbav:"state"`
	Holder         string            `dynamodbav:"holder,omitempty"`
	AcquiredBy     string            `dynamodbav:"acquired_by,omitempty"`
	LeaseToken     string            `dynamodbav:"lease_token,omitempty"`
	LeaseExpiresAt string            `dynamodbav:"lease_expires_at,omitempty"`
	CleanJobID     string            `dynamodbav:"clean_job_id,omitempty"`
	CleanJobVer    int64             `dynamodbav:"clean_job_version,omitempty"`
	CleanFailures  int               `dynamodbav:"clean_failures,omitempty"`
	Flagged        string            `dynamodbav:"flagged,omitempty"`
	UpdatedAt      string            `dynamodbav:"updated_at"`
	Version        int64             `dynamodbav:"version"`
	// HeldShard puts a resource in use on the lease index (sparse).
	HeldShard string `dynamodbav:"held_shard,omitempty"`
}

func toResourceRecord(r *farm.Resource) resourceRecord {
	rec := resourceRecord{
		Pool: r.Pool, Name: r.Name, Attributes: r.Attributes, State: string(r.State), Holder: r.Holder, AcquiredBy: r.AcquiredBy, LeaseToken: r.LeaseToken,
		LeaseExpiresAt: fmtTimePtr(r.LeaseExpiresAt), CleanJobID: r.CleanJobID, CleanJobVer: r.CleanJobVersion, CleanFailures: r.CleanFailures, Flagged: r.Flagged,
		UpdatedAt: fmtTime(r.UpdatedAt), Version: r.Version,
	}
	if r.State == farm.ResourceUsed && r.LeaseExpiresAt != nil {
		rec.HeldShard = heldShard
	}
	return rec
}

func (r resourceRecord) resource() (*farm.Resource, error) {
	res := &farm.Resource{
		Pool: r.Pool, Name: r.Name, Attributes: r.Attributes, State: farm.ResourceState(r.State), Holder: r.Holder, AcquiredBy: r.AcquiredBy, LeaseToken: r.LeaseToken,
		CleanJobID: r.CleanJobID, CleanJobVersion: r.CleanJobVer, CleanFailures: r.CleanFailures, Flagged: r.Flagged, Version: r.Version,
	}
	var err error
	if res.LeaseExpiresAt, err = parseTimePtr(r.LeaseExpiresAt); err != nil {
		return nil, err
	}
	res.UpdatedAt, err = parseTime(r.UpdatedAt)
	return res, err
}
