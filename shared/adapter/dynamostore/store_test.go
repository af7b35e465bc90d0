package dynamostore_test

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// The conformance suite against DynamoDB on the emulator: every test gets
// its own freshly provisioned tables.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		top, cfg, _ := emulatortest.Topology(t)
		return dynamostore.New(dynamodb.NewFromConfig(cfg), top)
	})
}

// The dispatch-index parts of the suite with every pool's queue spread
// over 4 partition keys of the dispatch index.
func TestConformanceFourShards(t *testing.T) {
	shards := store.UniformDispatchShards(4, storetest.Pools...)
	storetest.RunSharded(t, 4, func(t *testing.T) store.Store {
		top, cfg, _ := emulatortest.Topology(t)
		return dynamostore.New(dynamodb.NewFromConfig(cfg), top).WithDispatchShards(shards)
	})
}
