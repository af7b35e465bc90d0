package wiring

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/buildfarm/buildfarm/shared/app/store"
)

// EnvDispatchShards sets the width of pools' dispatch indexes:
// "pool=S,pool=S" (a pool not named: 1). "pool=N/W" writes N shards while
// still reading W — the first step of narrowing a pool from W to N
// (store.DispatchShards).
const EnvDispatchShards = "FARM_DISPATCH_SHARDS"

// ParseDispatchShards reads "pool=S[/R],...": the write width of each pool
// named, and the read width of those that give a wider one.
func ParseDispatchShards(s string) (write, read map[string]int, err error) {
	write, read = map[string]int{}, map[string]int{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		pool, width, ok := strings.Cut(part, "=")
		pool = strings.TrimSpace(pool)
		if !ok || pool == "" {
			return nil, nil, fmt.Errorf("%s: %q is not pool=shards", EnvDispatchShards, part)
		}
		if _, dup := write[pool]; dup {
			return nil, nil, fmt.Errorf("%s: pool %q named twice", EnvDispatchShards, pool)
		}
		w, r, hasRead := strings.Cut(width, "/")
		n, err := shardCount(pool, w)
		if err != nil {
			return nil, nil, err
		}
		write[pool] = n
		if hasRead {
			m, err := shardCount(pool, r)
			if err != nil {
				return nil, nil, err
			}
			if m < n {
				return nil, nil, fmt.Errorf("%s: pool %q reads %d shards, fewer than the %d it writes", EnvDispatchShards, pool, m, n)
			}
			read[pool] = m
		}
	}
	return write, read, nil
}

func shardCount(pool, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > store.MaxDispatchShards {
		return 0, fmt.Errorf("%s: pool %q: %q is not a number of shards 1..%d", EnvDispatchShards, pool, s, store.MaxDispatchShards)
	}
	return n, nil
}

// dispatchShardsFromEnv fills c's dispatch widths from the environment.
func (c *Config) dispatchShardsFromEnv() error {
	var err error
	c.DispatchShards, c.DispatchReadShards, err = ParseDispatchShards(os.Getenv(EnvDispatchShards))
	if err != nil {
		return err
	}
	_, err = c.dispatchShards()
	return err
}

// dispatchShards checks c's dispatch widths against its pools.
func (c Config) dispatchShards() (store.DispatchShards, error) {
	for _, m := range []map[string]int{c.DispatchShards, c.DispatchReadShards} {
		for pool := range m {
			if c.Topology != nil && !c.Topology.ServesPool(pool) {
				return store.DispatchShards{}, fmt.Errorf("%s names pool %q, which this farm does not serve (%s)", EnvDispatchShards, pool, strings.Join(c.Topology.Pools, ", "))
			}
		}
	}
	return store.NewDispatchShards(c.DispatchShards, c.DispatchReadShards)
}
