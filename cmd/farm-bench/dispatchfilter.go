package main

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/eventpattern"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// filteredStreamReads wraps inspect so that a stream read counts as
// non-empty — one dispatch invocation, in lambdaUsage — only when a record
// in it passes the dispatcher's filter. In AWS the event source mapping
// drops the other records before Lambda is invoked (FilterCriteria from
// the same data, dynamostore.DispatchFilter), so a batch of jobs nothing
// follows invokes, and costs, nothing.
func filteredStreamReads(inspect awscalls.Inspector) awscalls.Inspector {
	filter := dynamostore.DispatchFilter.MustCompile()
	return func(service, operation string, in, out any, err error) awscalls.Usage {
		u := inspect(service, operation, in, out, err)
		if o, ok := out.(*dynamodbstreams.GetRecordsOutput); ok && u.NonEmpty > 0 && !anyPasses(filter, o) {
			u.NonEmpty = 0
		}
		return u
	}
}

// anyPasses reports whether a record of a stream read passes filter. A
// batch that cannot be read is counted as an invocation.
func anyPasses(filter *eventpattern.Matcher, o *dynamodbstreams.GetRecordsOutput) bool {
	records, err := dynamostore.LambdaRecordsFromStream(o.Records)
	if err != nil {
		return true
	}
	for _, r := range records {
		if ok, err := filter.MatchValue(r); err != nil || ok {
			return true
		}
	}
	return false
}
