package stack

import (
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/shared/adapter/eventpattern"
)

// streamFilters renders a filter defined as data (the jobs stream's are in
// shared/adapter/dynamostore) into an event source mapping's filters: one
// FilterCriteria entry per pattern, ORed by Lambda. The local runtime runs
// the same data through eventpattern's matcher, and this package's tests
// run records through what was synthesised.
func streamFilters(f eventpattern.Filter) *[]*map[string]any {
	out := make([]*map[string]any, 0, len(f))
	for _, p := range f.Patterns() {
		out = append(out, &map[string]any{"pattern": jsii.String(p)})
	}
	return &out
}
