package store

import (
	"encoding/base64"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// EncodeCursor makes the opaque cursor that continues a listing after the job lastID.
func EncodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

// DecodeCursor returns the job id a cursor continues after ("" for none).
func DecodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !farm.ValidID(string(b)) {
		return "", farm.FieldError("cursor", "is not a cursor returned by this API")
	}
	return string(b), nil
}

// NormalizeFilter validates a filter and applies the default and maximum limit.
func NormalizeFilter(f JobFilter) (JobFilter, error) {
	if f.Status != "" && !f.Status.Valid() {
		return f, farm.FieldError("status", "unknown status %q", f.Status)
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultListLimit
	case f.Limit < 0 || f.Limit > MaxListLimit:
		return f, farm.FieldError("limit", "must be between 1 and %d", MaxListLimit)
	}
	if _, err := DecodeCursor(f.Cursor); err != nil {
		return f, err
	}
	switch {
	case f.Scan <= 0:
		f.Scan = DefaultListScan
	case f.Scan > MaxListScan:
		f.Scan = MaxListScan
	}
	// An index that answers the whole filter needs Limit+1 entries for a
	// full page and the knowledge that another follows.
	f.Scan = max(f.Scan, f.Limit+1)
	return f, nil
}

// JobFilter selects jobs to list, newest first.
//
// A listing reads one index: by status when a status is given, else by
// type, else by pool, else every job; the other conditions are checked on
// the index entries it reads. It examines at most Scan entries, so that a
// filter few jobs match costs a bounded read: a page may then hold fewer
// than Limit jobs (even none) and still carry a NextCursor that continues
// the search.
type JobFilter struct {
	Status farm.JobStatus
	Type   string
	Pool   string
	// RequestedBy is the actor that submitted the job (its requested_by).
	RequestedBy string
	Limit       int
	// Cursor continues a previous listing (JobPage.NextCursor).
	Cursor string
	// Scan bounds the index entries one call examines (0: DefaultListScan).
	Scan int
}

// JobPage is one page of a listing.
type JobPage struct {
	Jobs       []*farm.Job
	NextCursor string
}

// Listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
	// DefaultListScan bounds the index entries a listing examines per call
	// (DynamoDB: a Query page or two of small index entries — a few read
	// units — then batch reads of only the jobs that match).
	DefaultListScan = 1000
	// MaxListScan bounds JobFilter.Scan.
	MaxListScan = 10000
)
