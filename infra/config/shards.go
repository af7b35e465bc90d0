package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/buildfarm/buildfarm/shared/wiring"
)

// applyDispatchShards reads "dispatchShards", the width of pools' dispatch
// indexes, into the functions' FARM_DISPATCH_SHARDS syntax
// ("pool=S[/R],..."): a JSON object {"pool": S} in the file, or that
// string (the only form a context value takes).
func applyDispatchShards(c *Config, get Getter) error {
	switch v := get("dispatchShards").(type) {
	case nil:
	case string:
		c.DispatchShards = strings.TrimSpace(v)
	case map[string]any:
		parts := make([]string, 0, len(v))
		for _, pool := range slices.Sorted(maps.Keys(v)) {
			n, err := integer(v[pool])
			if err != nil {
				return fmt.Errorf("config: dispatchShards: pool %q: %w", pool, err)
			}
			parts = append(parts, pool+"="+strconv.Itoa(n))
		}
		c.DispatchShards = strings.Join(parts, ",")
	default:
		return fmt.Errorf("config: dispatchShards: want {\"pool\": shards} or \"pool=shards,...\", got %v", v)
	}
	return nil
}

// validateDispatchShards checks the widths and that each pool is served.
func (c *Config) validateDispatchShards(pools []string) error {
	write, read, err := wiring.ParseDispatchShards(c.DispatchShards)
	if err != nil {
		return fmt.Errorf("config: dispatchShards: %w", err)
	}
	for _, m := range []map[string]int{write, read} {
		for pool := range m {
			if !slices.Contains(pools, pool) {
				return fmt.Errorf("config: dispatchShards names %q, which is not one of the pools %v", pool, pools)
			}
		}
	}
	return nil
}
