package reaper_test

import (
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func storeTx(prev, next *farm.Job) store.Tx {
	return store.Tx{Jobs: []store.JobWrite{{Prev: prev, Next: next}}}
}
