package farm

import "time"

// Idempotency records the first use of an idempotency key, modelled on
// Powertools' DynamoDB idempotency record. It is written in the same
// transaction as the job it created, so it is never seen in progress; the
// status field keeps the record's shape for tools that expect it.
type Idempotency struct {
	Key         string
	Status      string // "completed"
	RequestHash string
	JobID       string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// IdempotencyCompleted is the status of a record whose job exists.
const IdempotencyCompleted = "completed"
