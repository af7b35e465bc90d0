package store

import "github.com/buildfarm/buildfarm/shared/farm"

// JobChange is one change of a job as the store's change feed reports it
// (the jobs table's DynamoDB stream), reduced to what the dispatcher needs.
// The store adapter decodes its feed into these; nothing above it knows an
// attribute name.
type JobChange struct {
	// ID identifies the record for partial batch failures (the stream sequence number).
	ID        string
	JobID     string
	OldStatus farm.JobStatus // "" for an insert, or a record without its old image
	NewStatus farm.JobStatus // "" for a removal
	// Pool is the job's builder pool, as the new image shows it ("" for a removal).
	Pool string
	// Job is the job as the change left it (the record's new image; nil for
	// a removal): the dispatcher works from it without reading the job
	// back. Err says why the image could not be decoded.
	Job *farm.Job
	Err error
}

// Relevant reports whether the change may have moved the job to another
// state: heartbeats and log appends modify jobs without changing their
// state and, where the record says the state it left, are skipped without
// a read. (The jobs table streams new images only: its filter passes no
// change of no state but a clean-resource job's, whose handler finds
// nothing to do.)
func (c JobChange) Relevant() bool {
	return c.NewStatus != "" && c.NewStatus != c.OldStatus
}
