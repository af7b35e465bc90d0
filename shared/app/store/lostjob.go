package store

import (
	"errors"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// lostJobRace is the cause of a one-job write's lost race when the store
// had the job as stored in the failed call's own answer (DynamoDB's
// ReturnValuesOnConditionCheckFailure=ALL_OLD).
type lostJobRace struct{ current *farm.Job }

func (e *lostJobRace) Error() string { return ErrLostRace.Error() }
func (e *lostJobRace) Unwrap() error { return ErrLostRace }

// LostJobRace is LostRace for a job write that lost to cur, the job as
// stored when it lost: the caller may decide again from cur without
// reading the job (CurrentJob).
func LostJobRace(cur *farm.Job) error {
	return &farm.Error{Code: farm.EConflict, Message: "the job changed since it was read", Err: &lostJobRace{current: cur}}
}

// CurrentJob returns the job a lost job write found stored, when the
// store gave it with the failure (nil otherwise: read it).
func CurrentJob(err error) *farm.Job {
	var lost *lostJobRace
	if errors.As(err, &lost) {
		return lost.current
	}
	return nil
}
