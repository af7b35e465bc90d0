package memstore

import (
	"errors"

	"github.com/buildfarm/buildfarm/shared/app/store"
)

// lostTo gives a lost one-job write the job as stored, as DynamoDB's
// failed write answers it (store.CurrentJob). Called with s.mu held.
func (s *Store) lostTo(tx store.Tx, err error) error {
	if tx.Size() != 1 || len(tx.Jobs) != 1 || !errors.Is(err, store.ErrLostRace) {
		return err
	}
	cur := s.jobs[tx.Jobs[0].Next.ID]
	if cur == nil {
		return err
	}
	return store.LostJobRace(cur.Clone())
}
