package farm

import "time"

// Idempotency records the first use of an idempotency key, modelled on
// Powertools' DynamoDB idempotency record: the key, a status (in progress
// until the job exists, then completed), a hash of the request and an expiry
// (TTL). The record names the job id before the job is written, so a retry
// after a crash in between completes the same job instead of making another.
type Idempotency struct {
	Key         string
	Status      string
	RequestHash string
	JobID       string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Idempotency record statuses.
const (
	IdempotencyInProgress = "in_progress"
	IdempotencyCompleted  = "completed"
)
