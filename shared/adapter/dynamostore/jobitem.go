package dynamostore

import (
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// JobItem is the item job j is stored as, index key attributes included:
// with Tables it says which index partitions a job's writes touch, which
// is what the capacity model (cmd/farm-capacity) is computed from.
func (s *Store) JobItem(j *farm.Job) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMap(s.jobRecord(j))
}
