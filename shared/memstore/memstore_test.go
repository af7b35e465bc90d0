package memstore_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/memstore"
	"github.com/buildfarm/buildfarm/shared/scheduler"
	"github.com/buildfarm/buildfarm/shared/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) scheduler.Store { return memstore.New() })
}
