package fleet

import "time"

// Record is a pool's scaler record: what the last tick decided, the marks
// it keeps per instance, and the lease that keeps two overlapping scaler
// runs from acting on one pool at once. Every write is conditional on the
// version read (a lost race is a conflict, and that run leaves the pool to
// the other).
type Record struct {
	Pool string
	// LeaseUntil: a tick holds the pool until then (zero: nobody does).
	LeaseUntil time.Time
	// Holder names the run holding the lease.
	Holder   string
	LastTick time.Time
	Desired  int
	Reason   string
	Marks    map[string]Mark
	// Version is 0 for a record never written.
	Version int64
}

// Clone returns a deep copy.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Marks = make(map[string]Mark, len(r.Marks))
	for k, v := range r.Marks {
		c.Marks[k] = v
	}
	return &c
}

// InstanceClaim is the farm's memory of an instance that asked for its
// builder token: the hash of the nonce it chose at its first request (later
// requests must present the same nonce), trust on first use as in Vault's
// EC2 auth. It expires some time after the instance was last seen.
type InstanceClaim struct {
	InstanceID string
	NonceHash  string
	Pool       string
	FirstAt    time.Time
	LastAt     time.Time
	ExpiresAt  time.Time
	Version    int64
}
