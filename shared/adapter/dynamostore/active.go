package dynamostore

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// The active jobs (running, cancelling) are listed from the reap index,
// the sparse index every job holding a lease is on: there is no status
// index to keep up to date at every transition. They are few (at most the
// farm's slots), so a listing reads all their keys and then the jobs it
// examines.

// activeIDs lists the ids on the reap index, newest first.
func (s *Store) activeIDs(ctx context.Context) ([]string, error) {
	in, err := keyQuery(s.top.Jobs.Name, IndexReap, expression.Key("active_shard").Equal(expression.Value(activeShard)), nil)
	if err != nil {
		return nil, err
	}
	ids, err := query(ctx, s, in, 0, stringKey("id"))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(b, a) })
	return slices.Compact(ids), nil
}

// listActive examines the active jobs older than after (all: ""), newest
// first, until want match or scan were examined; lastExamined is the id to
// continue after when it stopped at the scan bound with entries left.
func (s *Store) listActive(ctx context.Context, after string, want, scan int, matches func(*farm.Job) bool) (jobs []*farm.Job, lastExamined string, err error) {
	ids, err := s.activeIDs(ctx)
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		ids = slices.DeleteFunc(ids, func(id string) bool { return id >= after })
	}
	jobs = []*farm.Job{}
	for start := 0; start < len(ids); start += maxItemPage {
		if start >= scan {
			return jobs, ids[start-1], nil
		}
		page := ids[start:min(start+maxItemPage, len(ids), scan)]
		got, err := s.getJobs(ctx, page)
		if err != nil {
			return nil, "", err
		}
		for _, id := range page {
			// The index may lag a job's change: filter on what was read.
			if j := got[id]; j != nil && matches(j) {
				if jobs = append(jobs, j); len(jobs) == want {
					return jobs, "", nil
				}
			}
		}
		if end := start + len(page); end >= scan && end < len(ids) {
			return jobs, ids[end-1], nil
		}
	}
	return jobs, "", nil
}
