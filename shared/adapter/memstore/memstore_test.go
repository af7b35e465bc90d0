package memstore_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}

// The dispatch-index parts of the suite with every pool on 4 shards.
func TestConformanceFourShards(t *testing.T) {
	shards := store.UniformDispatchShards(4, storetest.Pools...)
	storetest.RunSharded(t, 4, func(t *testing.T) store.Store { return memstore.New().WithDispatchShards(shards) })
}
