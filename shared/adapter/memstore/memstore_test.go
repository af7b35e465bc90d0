package memstore_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/scheduler"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) scheduler.Store { return memstore.New() })
}
